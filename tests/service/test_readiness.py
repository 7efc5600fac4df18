"""/healthz and /readyz of the service, in process: each readiness check passes and fails."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.application import open_application
from config.settings import AppSettings, load_settings
from service.http import create_http_app
from tests.conftest import SAMPLE_PROFILE

CONFIGURED = {
    "livekit": {
        "url": "wss://livekit.example",
        "api_key": "APIkey",
        "api_secret": "a-secret-long-enough-for-hs256-0123456789abcdef",
        "sip_trunk_id": "ST_trunk",
    },
    "google": {"api_key": "a-google-key"},
}


def service_settings(tmp_path: Path, **groups: Any) -> AppSettings:
    profile = tmp_path / "clinic.toml"
    if not profile.exists():
        shutil.copy(SAMPLE_PROFILE, profile)
    base: dict[str, Any] = {
        "database": {"path": tmp_path / "elo.db"},
        "logging": {"file": tmp_path / "logs" / "elo.jsonl"},
        "clinic": {"profile_path": profile},
        **CONFIGURED,
    }
    for name, values in groups.items():
        base[name] = {**base.get(name, {}), **values}
    return load_settings(env_file=None, **base)


@asynccontextmanager
async def service(settings: AppSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with open_application(settings) as app:
        transport = httpx.ASGITransport(app=create_http_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://elo") as client:
            yield client


async def readyz(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/readyz")
    return response.status_code, response.json()


def failed(body: dict[str, Any]) -> dict[str, str]:
    return {name: c["detail"] for name, c in body["checks"].items() if not c["ok"]}


@pytest.mark.asyncio
async def test_a_configured_service_is_live_and_ready(tmp_path: Path) -> None:
    async with service(service_settings(tmp_path)) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        status, body = await readyz(client)
    assert status == 200, body
    assert body["status"] == "ready"
    assert list(body["checks"]) == [
        "database_sound",
        "schema_current",
        "database_writable",
        "clinic_profile",
        "disk_space",
        "configuration",
    ]
    assert failed(body) == {}


@pytest.mark.asyncio
async def test_missing_keys_are_named_and_keep_the_service_not_ready(tmp_path: Path) -> None:
    settings = service_settings(tmp_path)
    settings = settings.model_copy(
        update={
            "livekit": load_settings(env_file=None).livekit,
            "google": load_settings(env_file=None).google,
        }
    )
    async with service(settings) as client:
        status, body = await readyz(client)
    assert status == 503
    assert body["status"] == "not ready"
    assert failed(body) == {
        # The service needs no SIP trunk of its own: a campaign may bring one, inbound needs none.
        "configuration": "set ELO_LIVEKIT__URL, ELO_LIVEKIT__API_KEY, ELO_LIVEKIT__API_SECRET,"
        " ELO_GOOGLE__API_KEY"
    }


@pytest.mark.asyncio
async def test_a_clinic_profile_broken_while_running_is_reported_until_mended(
    tmp_path: Path,
) -> None:
    settings = service_settings(tmp_path)
    profile = settings.clinic.profile_path
    good = profile.read_text(encoding="utf-8")
    async with service(settings) as client:
        profile.write_text(good.replace("chairs", "chairz", 1), encoding="utf-8")
        status, body = await readyz(client)
        assert status == 503
        (name,) = failed(body)
        assert name == "clinic_profile"
        assert "\n" not in body["checks"]["clinic_profile"]["detail"]
        profile.write_text(good, encoding="utf-8")
        assert (await readyz(client))[0] == 200


@pytest.mark.asyncio
async def test_a_profile_saved_while_running_is_ready_and_says_a_restart_applies_it(
    tmp_path: Path,
) -> None:
    settings = service_settings(tmp_path)
    profile = settings.clinic.profile_path
    good = profile.read_text(encoding="utf-8")
    async with service(settings) as client:
        _, body = await readyz(client)
        assert body["checks"]["clinic_profile"]["detail"] == "clinic.toml is valid"
        profile.write_text(good.replace("chairs = 3", "chairs = 4", 1), encoding="utf-8")
        status, body = await readyz(client)
    assert status == 200
    assert body["checks"]["clinic_profile"] == {
        "ok": True,
        "detail": "clinic.toml is valid; restart Elo to use it",
    }


@pytest.mark.asyncio
async def test_too_little_free_disk_is_not_ready(tmp_path: Path) -> None:
    settings = service_settings(tmp_path, server={"min_free_disk_mb": 10**12})
    async with service(settings) as client:
        status, body = await readyz(client)
    assert status == 503
    assert list(failed(body)) == ["disk_space"]
    assert "ELO_SERVER__MIN_FREE_DISK_MB=1000000000000" in failed(body)["disk_space"]


@pytest.mark.asyncio
async def test_a_write_lock_held_elsewhere_makes_the_database_not_writable(
    tmp_path: Path,
) -> None:
    settings = service_settings(tmp_path, database={"busy_timeout_ms": 100})
    async with service(settings) as client:
        # Another process's writer that does not let go (stuck, or a long manual session).
        other = sqlite3.connect(settings.database.path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            status, body = await readyz(client)
            assert status == 503
            assert list(failed(body)) == ["database_writable"]
            assert "locked" in failed(body)["database_writable"]
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert (await readyz(client))[0] == 200
