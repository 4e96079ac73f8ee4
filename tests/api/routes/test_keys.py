"""`/v1/keys`: admins list, mint, read and revoke keys over HTTP; nobody else may."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from app.db.models import utcnow
from tests.fixtures.service import Keys


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_an_admin_mints_a_key_that_works_at_once_and_is_listed_without_its_secret(
    admin: httpx.Client, anon: httpx.Client
) -> None:
    expires = (utcnow() + timedelta(days=30)).replace(microsecond=0)
    created = admin.post(
        "/v1/keys",
        json={"name": "plant-a-gateway", "role": "write", "expires_at": expires.isoformat()},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["key"]
    assert secret.startswith(f"lc_{body['prefix']}_")
    assert (body["role"], body["status"], body["last_used_at"]) == ("write", "active", None)
    assert body["expires_at"].replace("Z", "+00:00") == expires.isoformat()

    used = anon.post("/v1/series", json={"name": "by gateway"}, headers=_bearer(secret))
    assert used.status_code == 201

    listed = admin.get("/v1/keys")
    assert listed.status_code == 200
    assert secret not in listed.text and secret.split("_", 2)[2] not in listed.text
    rows = {row["name"]: row for row in listed.json()["items"]}
    assert listed.json()["total"] == len(rows)
    assert rows["test-revoked"]["status"] == "revoked"
    assert rows["plant-a-gateway"]["last_used_at"] is not None
    one = admin.get(f"/v1/keys/{body['id']}")
    assert one.status_code == 200 and one.json() == rows["plant-a-gateway"]


def test_a_revoked_key_is_refused_at_once_and_revoking_again_changes_nothing(
    admin: httpx.Client, anon: httpx.Client
) -> None:
    created = admin.post("/v1/keys", json={"name": "leaked", "role": "read"}).json()
    headers = _bearer(created["key"])
    assert anon.get("/v1/series", headers=headers).status_code == 200
    revoked = admin.delete(f"/v1/keys/{created['id']}")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert anon.get("/v1/series", headers=headers).status_code == 401
    again = admin.delete(f"/v1/keys/{created['id']}")
    assert again.status_code == 200
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]


def test_the_last_live_admin_key_cannot_be_revoked_over_http(
    admin: httpx.Client, keys: Keys
) -> None:
    rows = {row["name"]: row["id"] for row in admin.get("/v1/keys").json()["items"]}
    refused = admin.delete(f"/v1/keys/{rows['test-admin']}")
    assert refused.status_code == 409, refused.text
    assert "last live admin key" in refused.json()["detail"]
    second = admin.post("/v1/keys", json={"name": "second-admin", "role": "admin"}).json()
    # With another admin key alive, the first may go, even by its own hand.
    assert admin.delete(f"/v1/keys/{rows['test-admin']}").status_code == 200
    assert admin.get("/v1/keys").status_code == 401
    assert admin.get("/v1/keys", headers=_bearer(second["key"])).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"name": "test-read", "role": "read"}, 409, "already exists"),
        ({"name": "x", "role": "root"}, 422, "body.role"),
        ({"name": "", "role": "read"}, 422, "body.name"),
        ({"name": "a\x00b", "role": "read"}, 422, "control character"),
        ({"name": "x", "role": "read", "expires_at": "2020-01-01T00:00:00Z"}, 422, "future"),
        ({"name": "x", "role": "read", "expires_at": "2027-01-01T00:00:00"}, 422, "timezone"),
        ({"name": "x", "role": "read", "expires_at": 1e12}, 422, "not a timestamp"),
        ({"name": "x", "role": "read", "secret": "mine"}, 422, "body.secret"),
    ],
)
def test_bad_key_requests_are_refused_and_store_nothing(
    admin: httpx.Client, body: dict[str, object], status: int, words: str
) -> None:
    before = admin.get("/v1/keys").json()
    answer = admin.post("/v1/keys", json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]
    assert admin.get("/v1/keys").json() == before


def test_only_admins_manage_keys(anon: httpx.Client, keys: Keys, admin: httpx.Client) -> None:
    some_id = admin.get("/v1/keys").json()["items"][0]["id"]
    for key in (keys.read, keys.write):
        headers = _bearer(key)
        assert anon.get("/v1/keys", headers=headers).status_code == 403
        assert anon.get(f"/v1/keys/{some_id}", headers=headers).status_code == 403
        assert anon.delete(f"/v1/keys/{some_id}", headers=headers).status_code == 403
        minted = anon.post("/v1/keys", json={"name": "mine", "role": "admin"}, headers=headers)
        assert minted.status_code == 403
    assert anon.get("/v1/keys").status_code == 401
    assert admin.get("/v1/keys/424242").status_code == 404
    assert admin.delete("/v1/keys/2147483648").status_code == 422
    assert "mine" not in admin.get("/v1/keys").text
