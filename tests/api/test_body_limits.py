"""A body trickled in must arrive whole within LINECAST_REQUEST_BODY_SECONDS, over a real socket.

A per-read timeout never fires on a client that sends a byte every fraction of a second, so the
limit is one deadline for the whole body: spoken here byte by byte to the served app, as a slow
or hostile client would.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from app.settings import Settings
from tests.api.conftest import MAX_REQUEST_BYTES, Snapshot
from tests.fixtures.raw_http import read_answer
from tests.fixtures.service import Keys

BODY_SECONDS = 1.0


@pytest.fixture
def api_settings(migrated_url: str) -> Settings:
    return Settings(
        database_url=migrated_url,
        max_request_bytes=MAX_REQUEST_BYTES,
        request_body_seconds=BODY_SECONDS,
    )


def test_a_body_trickled_past_the_deadline_is_408_and_stores_nothing(
    base_url: str, keys: Keys, snapshot: Callable[[], Snapshot]
) -> None:
    before = snapshot()
    body = json.dumps({"name": "plant-a/line-1/slow", "frequency": "h"}).encode()
    with _connect(base_url) as sock:
        started = time.monotonic()
        sock.sendall(_head("/v1/series", keys.write, len(body)))
        sent = _trickle(sock, body, interval=0.1)
        head, answer = read_answer(sock)
        held = time.monotonic() - started
    assert sent < len(body), "the server waited for the whole trickled body"
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert json.loads(answer)["detail"] == (
        f"request body not received within {BODY_SECONDS:g} s "
        "(LINECAST_REQUEST_BODY_SECONDS): send it whole, faster"
    )
    assert BODY_SECONDS <= held <= BODY_SECONDS + 1.5, f"answered after {held:.2f} s"
    assert snapshot() == before


def test_a_body_sent_in_pieces_within_the_deadline_is_read(base_url: str, keys: Keys) -> None:
    body = json.dumps({"name": "plant-a/line-1/patient", "frequency": "h"}).encode()
    with _connect(base_url) as sock:
        sock.sendall(_head("/v1/series", keys.write, len(body)))
        for start in range(0, len(body), 16):
            sock.sendall(body[start : start + 16])
            time.sleep(BODY_SECONDS / 20)
        head, answer = read_answer(sock)
    assert head.startswith(b"HTTP/1.1 201 "), head
    assert json.loads(answer)["name"] == "plant-a/line-1/patient"


def test_the_deadline_does_not_cut_a_request_without_a_body(base_url: str, keys: Keys) -> None:
    # Reading past the (empty) body waits for the disconnect, which is no part of the deadline:
    # a slow answer to a bodiless request must not become a 408.
    with _connect(base_url) as sock:
        sock.sendall(
            b"GET /v1/series HTTP/1.1\r\nHost: linecast\r\n"
            b"Authorization: Bearer %s\r\n\r\n" % keys.read.encode()
        )
        time.sleep(BODY_SECONDS * 1.5)
        head, _ = read_answer(sock)
    assert head.startswith(b"HTTP/1.1 200 "), head


def _connect(base_url: str) -> socket.socket:
    address = urlsplit(base_url)
    return socket.create_connection((address.hostname, address.port), timeout=10)


def _head(path: str, key: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: linecast\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _trickle(sock: socket.socket, body: bytes, interval: float) -> int:
    """Send `body` a byte every `interval` seconds until the server answers; bytes sent."""
    sock.settimeout(interval)
    sent = 0
    while sent < len(body):
        try:
            if sock.recv(1, socket.MSG_PEEK):
                break  # the answer has begun
        except TimeoutError:
            pass
        try:
            sock.sendall(body[sent : sent + 1])
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += 1
    sock.settimeout(10)
    return sent
