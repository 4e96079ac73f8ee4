"""API keys: who may call what, what a refused call looks like, and `linecast keys`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from itertools import count
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.cli import main
from app.db.models import ApiKey, utcnow
from app.services.keys import authenticate
from tests.api.conftest import Snapshot
from tests.fixtures.service import Keys

_names = count()


def _new_series() -> dict[str, Any]:
    return {"json": {"name": f"auth series {next(_names)}"}}


def _one_reading() -> dict[str, Any]:
    return {"json": {"items": [{"ts": "2026-01-05T00:00:00Z", "value": 1.0}]}}


def _one_reading_csv() -> dict[str, Any]:
    return {"files": {"file": ("d.csv", b"timestamp,value\n2026-01-05T00:00:00Z,1\n")}}


ENDPOINTS = [
    ("GET", "/v1/series", dict, "read"),
    ("GET", "/v1/series/{id}", dict, "read"),
    ("GET", "/v1/series/{id}/observations", dict, "read"),
    ("POST", "/v1/series", _new_series, "write"),
    ("POST", "/v1/series/{id}/observations", _one_reading, "write"),
    ("POST", "/v1/series/{id}/observations/csv", _one_reading_csv, "write"),
    ("POST", "/v1/series/{id}/archive", dict, "admin"),
]
ROLES = ("read", "write", "admin")


@pytest.mark.parametrize(
    ("method", "path", "body", "needed"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS]
)
def test_auth_matrix(
    method: str,
    path: str,
    body: Callable[[], dict[str, Any]],
    needed: str,
    anon: httpx.Client,
    keys: Keys,
    series_id: int,
    snapshot: Callable[[], Snapshot],
) -> None:
    url = path.format(id=series_id)
    real = keys.admin
    refused = {
        None: "missing API key: send the header `Authorization: Bearer <key>`",
        f"Basic {real}": "missing API key: send the header `Authorization: Bearer <key>`",
        "Bearer": "missing API key: send the header `Authorization: Bearer <key>`",
        "Bearer not-a-key": "invalid API key",
        f"Bearer {real[:16]}{'x' * (len(real) - 16)}": "invalid API key",  # right prefix
        f"Bearer {real}x": "invalid API key",
        f"Bearer {keys.revoked}": "invalid API key",
    }
    before = snapshot()
    for authorization, detail in refused.items():
        headers = {} if authorization is None else {"Authorization": authorization}
        response = anon.request(method, url, headers=headers, **body())
        assert response.status_code == 401, authorization
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["detail"] == detail
        assert real not in response.text
        assert keys.revoked not in response.text

    for role in ROLES:
        key = getattr(keys, role)
        response = anon.request(method, url, headers={"Authorization": f"Bearer {key}"}, **body())
        if ROLES.index(role) < ROLES.index(needed):
            assert response.status_code == 403, role
            assert response.json()["detail"] == (
                f"this needs a key of role {needed} or higher; this key has role {role}"
            )
            assert snapshot() == before
        else:
            assert response.status_code in (200, 201), (role, response.text)


def test_authentication_comes_before_not_found(anon: httpx.Client, keys: Keys) -> None:
    assert anon.get("/v1/series/999").status_code == 401
    weak = anon.post("/v1/series/999/archive", headers={"Authorization": f"Bearer {keys.write}"})
    assert weak.status_code == 403


def test_last_used_is_written_once_a_minute_at_most(
    reader: httpx.Client, keys: Keys, db: sessionmaker[Session]
) -> None:
    def last_used() -> Any:
        with db() as session:
            return session.scalar(select(ApiKey.last_used_at).where(ApiKey.name == "test-read"))

    assert last_used() is None
    assert reader.get("/v1/series").status_code == 200
    first = last_used()
    assert first is not None
    assert reader.get("/v1/series").status_code == 200
    assert last_used() == first


def test_keys_are_stored_only_as_hashes(keys: Keys, db: sessionmaker[Session]) -> None:
    with db() as session:
        rows = session.scalars(select(ApiKey)).all()
        stored = " ".join(f"{row.name} {row.prefix} {row.key_hash}" for row in rows)
        assert authenticate(session=session, key=keys.write).role == "write"
        assert authenticate(session=session, key=keys.revoked) is None
    for key in (keys.read, keys.write, keys.admin, keys.revoked):
        assert key.startswith("lc_")
        assert key not in stored
        assert key.split("_", 2)[2] not in stored  # nor its secret part


@pytest.mark.parametrize("command", [["keys", "create"], ["create-api-key"]])
def test_keys_create_prints_a_working_key_once(
    command: list[str], migrated_url: str, anon: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--name", "ops", "--role", "write", "--database-url", migrated_url]
    assert main([*command, *arguments]) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert out == f"{key}\n"
    assert "cannot be shown again" in err
    assert key not in err

    headers = {"Authorization": f"Bearer {key}"}
    assert anon.post("/v1/series", json={"name": "by ops"}, headers=headers).status_code == 201
    assert anon.post("/v1/series/1/archive", headers=headers).status_code == 403


def test_keys_create_refuses_a_taken_name(
    migrated_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = [
        "keys",
        "create",
        "--name",
        "ops",
        "--role",
        "read",
        "--database-url",
        migrated_url,
    ]
    assert main(arguments) == 0
    capsys.readouterr()
    assert main(arguments) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "linecast keys: error: an API key named 'ops' already exists\n"


def test_keys_create_on_an_unmigrated_database_says_so(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = [
        "keys",
        "create",
        "--name",
        "ops",
        "--role",
        "read",
        "--database-url",
        postgres_url,
    ]
    assert main(arguments) == 2
    err = capsys.readouterr().err
    assert err.startswith("linecast keys: error: ")
    assert 'relation "api_keys" does not exist' in err
    assert err.endswith("(has `linecast migrate` been run?)\n")
    assert err.count("\n") == 1


def test_keys_create_refuses_an_unknown_role(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["keys", "create", "--name", "ops", "--role", "root"])
    assert exit_.value.code == 2
    assert "invalid choice: 'root'" in capsys.readouterr().err


def test_keys_list_and_revoke_from_the_command_line(
    migrated_url: str, anon: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    database = ["--database-url", migrated_url]
    assert main(["keys", "create", "--name", "gateway", "--role", "read", *database]) == 0
    key = capsys.readouterr().out.strip()
    headers = {"Authorization": f"Bearer {key}"}
    assert anon.get("/v1/series", headers=headers).status_code == 200

    assert main(["keys", "list", *database]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split()[:5] == ["id", "name", "role", "status", "prefix"]
    gateway = next(line.split() for line in listed if " gateway " in line)
    assert gateway[2:5] == ["read", "active", key.split("_")[1]]
    assert key not in "\n".join(listed)

    assert main(["keys", "revoke", "gateway", *database]) == 0
    assert "revoked API key 'gateway'" in capsys.readouterr().err
    assert anon.get("/v1/series", headers=headers).status_code == 401
    assert main(["keys", "list", *database]) == 0
    assert " revoked " in next(
        line for line in capsys.readouterr().out.splitlines() if " gateway " in line
    )
    assert main(["keys", "revoke", "nobody", *database]) == 2
    assert capsys.readouterr().err == "linecast keys: error: no API key named 'nobody'\n"


def test_an_expiring_key_works_until_it_expires(
    migrated_url: str,
    anon: httpx.Client,
    db: sessionmaker[Session],
    capsys: pytest.CaptureFixture[str],
) -> None:
    arguments = ["keys", "create", "--name", "temp", "--role", "read", "--expires-in", "2 hours"]
    assert main([*arguments, "--database-url", migrated_url]) == 0
    key = capsys.readouterr().out.strip()
    headers = {"Authorization": f"Bearer {key}"}
    assert anon.get("/v1/series", headers=headers).status_code == 200
    with db() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.name == "temp"))
        assert row.expires_at is not None
        assert timedelta(hours=1.9) < row.expires_at - utcnow() <= timedelta(hours=2)
        row.expires_at = utcnow() - timedelta(seconds=1)  # as if two hours had passed
        session.commit()
    refused = anon.get("/v1/series", headers=headers)
    assert refused.status_code == 401 and refused.json()["detail"] == "invalid API key"


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--expires-in", "-3 days", "is not a positive duration"),
        ("--expires-in", "soon", "--expires-in: "),
        ("--expires-at", "2020-01-01T00:00:00Z", "is not in the future"),
        ("--expires-at", "2027-01-01", "has no timezone"),
    ],
)
def test_keys_create_refuses_an_expiry_that_is_not_ahead(
    flag: str, value: str, message: str, migrated_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["keys", "create", "--name", "t", "--role", "read", flag, value]
    assert main([*arguments, "--database-url", migrated_url]) == 2
    assert message in capsys.readouterr().err


def test_the_key_is_checked_before_the_body_is_read(
    anon: httpx.Client, keys: Keys, series_id: int
) -> None:
    """A body that is not even JSON gets the key's answer, not the body's: it was never parsed."""
    broken = {"content": b"{not json", "headers": {"Content-Type": "application/json"}}
    missing = anon.post("/v1/series", **broken)
    assert missing.status_code == 401, missing.text
    weak = anon.post(
        f"/v1/series/{series_id}/observations",
        content=b"{not json",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {keys.read}"},
    )
    assert weak.status_code == 403, weak.text
    strong = anon.post(
        "/v1/series",
        content=b"{not json",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {keys.write}"},
    )
    assert strong.status_code == 422 and "not valid JSON" in strong.json()["detail"]
