"""The proxy's nginx.conf run for real, with Debian's nginx, in front of the real app.

The file compose mounts is used as it is but for what only a container has: the API's address
(a local uvicorn here), the listening port, the worker user and the log file; and the header
timeout is cut from 10 s to `HEADER_TIMEOUT` so the slow client's test waits 2 s, not 10
(tests/test_deploy.py checks the file's own values). One app and one proxy serve the module's
tests: the app on a migrated SQLite file (the embedded default), since none of them stores
anything and a PostgreSQL database per test cost more than the tests. `make test` installs
nginx; without the binary these tests skip and say so.
"""

from __future__ import annotations

import getpass
import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.api.main import create_app
from app.db.migrate import upgrade
from app.settings import Settings
from tests.fixtures.raw_http import read_answer
from tests.fixtures.service import serving

ROOT = Path(__file__).resolve().parents[1]
NGINX_CONF = ROOT / "deploy" / "proxy" / "nginx.conf"
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
HEADER_TIMEOUT = 2.0
LIMIT = Settings.model_fields["max_request_bytes"].default

pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (`make test` installs Debian's nginx-light)"
)


@dataclass(frozen=True)
class Proxy:
    url: str
    port: int
    access_log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(api_url: str, port: int, access_log: Path) -> str:
    """The compose file's nginx.conf with the substitutions the module names, each checked, so
    a change to the file cannot silently leave the test running something else."""
    text = NGINX_CONF.read_text()
    for old, new in {
        "user nginx;": f"user {getpass.getuser()};",
        "listen 8080;": f"listen 127.0.0.1:{port};",
        "set $api http://api:8000;": f"set $api {api_url};",
        "client_header_timeout 10s;": f"client_header_timeout {HEADER_TIMEOUT:g}s;",
        "access_log /dev/stdout linecast;": f"access_log {access_log} linecast;",
    }.items():
        assert text.count(old) == 1, f"nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'linecast.db'}"
    upgrade(database_url)
    with serving(create_app(Settings(database_url=database_url))) as url:
        yield url


@pytest.fixture(scope="module")
def proxy(api_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    assert NGINX is not None
    tmp_path = tmp_path_factory.mktemp("proxy")
    port, access_log = _free_port(), tmp_path / "access.log"
    conf = tmp_path / "nginx.conf"
    conf.write_text(_config(api_url, port, access_log))
    command = [NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"]
    command += ["-g", f"daemon off; pid {tmp_path / 'nginx.pid'};"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_listening(process, port)
        yield Proxy(f"http://127.0.0.1:{port}", port, access_log)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_listening(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx did not start: {process.stderr.read() if process.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    pytest.fail("nginx did not listen within 10 s")


def test_a_request_passes_with_its_request_id_and_no_version_announced(proxy: Proxy) -> None:
    given = httpx.get(f"{proxy.url}/healthz", headers={"X-Request-ID": "through-the-proxy"})
    assert (given.status_code, given.json()) == (200, {"status": "ok"})
    assert given.headers["X-Request-ID"] == "through-the-proxy"
    assert given.headers["Server"] == "nginx"
    assert given.headers["X-Content-Type-Options"] == "nosniff"  # the API's, passed on
    # Without one, the proxy's id reaches the API (which echoes it) and the proxy's log.
    fresh = httpx.get(f"{proxy.url}/healthz")
    request_id = fresh.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    logged = _access_log_lines(proxy, {"through-the-proxy", request_id})
    assert logged["through-the-proxy"] == logged[request_id] == ("/healthz", 200)


def _access_log_lines(proxy: Proxy, request_ids: set[str]) -> dict[str, tuple[str, int]]:
    """The proxy's access log by request id, once it holds every id in `request_ids`: nginx
    writes a request's line after the answer has gone out, so a client may read first."""
    deadline = time.monotonic() + 5
    while True:
        logged = {
            line["request_id"]: (line["path"], line["status"])
            for line in map(json.loads, proxy.access_log.read_text().splitlines())
        }
        if request_ids <= logged.keys() or time.monotonic() > deadline:
            return logged
        time.sleep(0.05)


@pytest.mark.parametrize("path", ["/metrics", "/metrics/", "/%6Detrics", "//metrics?x=1"])
def test_metrics_are_not_served_through_the_proxy(proxy: Proxy, api_url: str, path: str) -> None:
    denied = httpx.get(f"{proxy.url}{path}")
    assert denied.status_code == 404
    assert denied.json()["detail"] == "Not Found"
    assert denied.headers["Cache-Control"] == "no-store"
    # The API itself serves them, inside the compose network.
    assert httpx.get(f"{api_url}/metrics").status_code == 200


def test_a_body_over_the_apis_limit_is_refused_before_it_is_read(proxy: Proxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/series HTTP/1.1\r\nHost: linecast\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n{" % (LIMIT + 1)
        )
        head, body = read_answer(sock)
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert f"limit of {LIMIT} bytes" in json.loads(body)["detail"]


@pytest.mark.slow
def test_a_client_sending_its_headers_a_byte_a_second_is_cut_off(proxy: Proxy) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: linecast\r\nUser-Agent: slowloris\r\n\r\n"
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        started = time.monotonic()
        sock.settimeout(1.0)
        sent = 0
        while sent < len(request):
            try:
                sock.sendall(request[sent : sent + 1])
                sent += 1
                if sock.recv(1024) == b"":
                    break  # closed by the proxy
            except TimeoutError:
                continue  # a second passed with the connection open: send the next byte
            except (BrokenPipeError, ConnectionResetError):
                break
        held = time.monotonic() - started
    assert sent < len(request), "the proxy waited for the whole trickled request"
    assert HEADER_TIMEOUT - 0.5 <= held <= HEADER_TIMEOUT + 2.0, f"cut off after {held:.1f} s"
