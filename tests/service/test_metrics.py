"""GET /metrics in process: the bearer token, the scrape-time gauges (queues, readiness)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from loguru import logger

from config.settings import load_settings
from storage import NewContact, Store
from tests.cli.test_main import run_elo
from tests.cli.test_serve import KEYS
from tests.conftest import SAMPLE_PROFILE, TIRANE
from tests.service.test_readiness import service, service_settings
from tests.telemetry.scrape import Scrape

TOKEN = "a-scrape-token-0123456789"


@pytest.mark.asyncio
async def test_metrics_are_prometheus_text_with_readiness(tmp_path: Path) -> None:
    async with service(service_settings(tmp_path)) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    scrape = Scrape.parse(response.text)
    assert scrape.families["elo_calls"] == "counter"
    assert scrape.families["elo_active_calls"] == "gauge"
    assert scrape.families["elo_model_response_latency_seconds"] == "histogram"
    assert scrape.value("elo_ready") == 1
    assert scrape.value("elo_readiness_check", check="database_writable") == 1
    assert scrape.value("process_resident_memory_bytes") > 0


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN, "Bearer", f"Bearer {TOKEN}x"],
    ids=["missing", "wrong", "basic", "no-scheme", "empty", "longer"],
)
async def test_with_a_token_anything_else_is_401_with_a_challenge(
    tmp_path: Path, authorization: str | None
) -> None:
    settings = service_settings(tmp_path, server={"metrics_token": TOKEN})
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with service(settings) as client:
        response = await client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert response.json() == {
        "error": "a valid bearer token is required (ELO_SERVER__METRICS_TOKEN)"
    }
    assert "elo_" not in response.text and TOKEN not in response.text


@pytest.mark.asyncio
@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
async def test_the_right_token_reads_the_metrics(tmp_path: Path, scheme: str) -> None:
    settings = service_settings(tmp_path, server={"metrics_token": TOKEN})
    async with service(settings) as client:
        response = await client.get("/metrics", headers={"Authorization": f"{scheme} {TOKEN}"})
        # /healthz and /readyz stay open: a load balancer probes them without the token.
        assert (await client.get("/healthz")).status_code == 200
    assert response.status_code == 200
    assert "elo_ready 1.0" in response.text


@pytest.mark.asyncio
async def test_queue_depth_per_campaign_id_is_read_at_scrape_time(tmp_path: Path) -> None:
    settings = service_settings(tmp_path)
    store = await Store.open(settings.database.path, tz=TIRANE)
    try:
        ids = []
        for name, phones in (("Recall", 3), ("Check-ups", 2), ("Old", 1)):
            campaign = await store.campaigns.create(name=name, purpose="recall")
            contacts = [
                NewContact(phone=f"+3556920000{len(ids)}{n}", name="Arta Hoxha")
                for n in range(phones)
            ]
            await store.campaigns.add_contacts(campaign_id=campaign.id, contacts=contacts)
            ids.append(campaign.id)
    finally:
        await store.close()
    with sqlite3.connect(settings.database.path) as db:
        db.execute("UPDATE campaigns SET status = 'done' WHERE id = ?", (ids[2],))
        db.execute(
            "UPDATE campaign_contacts SET state = 'done' WHERE id ="
            " (SELECT min(id) FROM campaign_contacts WHERE campaign_id = ?)",
            (ids[0],),
        )

    async with service(settings) as client:
        scrape = Scrape.parse((await client.get("/metrics")).text)
    depths = {
        dict(labels)["campaign"]: value
        for (name, labels), value in scrape.samples.items()
        if name == "elo_campaign_queue_depth"
    }
    assert depths == {str(ids[0]): 2, str(ids[1]): 2}  # a done campaign is not listed
    assert "Recall" not in scrape.text and "Arta" not in scrape.text


@pytest.mark.asyncio
async def test_not_ready_shows_as_zero_with_the_failing_check(tmp_path: Path) -> None:
    settings = service_settings(tmp_path)
    settings = settings.model_copy(update={"google": load_settings(env_file=None).google})
    async with service(settings) as client:
        scrape = Scrape.parse((await client.get("/metrics")).text)
    assert scrape.value("elo_ready") == 0
    assert scrape.value("elo_readiness_check", check="configuration") == 0
    assert scrape.value("elo_readiness_check", check="database_sound") == 1


@pytest.mark.asyncio
async def test_a_locked_database_still_gets_a_scrape(tmp_path: Path) -> None:
    settings = service_settings(tmp_path, database={"busy_timeout_ms": 100})
    async with service(settings) as client:
        other = sqlite3.connect(settings.database.path, isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")  # not even readers get in
            response = await client.get("/metrics")
        finally:
            other.execute("ROLLBACK")
            other.close()
    assert response.status_code == 200
    scrape = Scrape.parse(response.text)
    assert scrape.value("elo_ready") == 0
    assert scrape.value("elo_readiness_check", check="database_writable") == 0
    assert "elo_calls_total" in scrape.names()


@pytest.mark.asyncio
async def test_queues_that_cannot_be_read_leave_out_only_their_gauge(tmp_path: Path) -> None:
    settings = service_settings(tmp_path)
    warnings: list[str] = []
    sink = logger.add(lambda message: warnings.append(str(message)), level="WARNING")
    try:
        async with service(settings) as client:
            with sqlite3.connect(settings.database.path) as db:
                db.execute("ALTER TABLE campaign_contacts RENAME TO campaign_contacts_moved")
            response = await client.get("/metrics")
    finally:
        logger.remove(sink)
    assert response.status_code == 200
    scrape = Scrape.parse(response.text)
    assert "elo_campaign_queue_depth" not in scrape.families
    assert "elo_ready" in scrape.families and "elo_calls" in scrape.families
    assert any("the campaign queues could not be read: OperationalError" in w for w in warnings)


@pytest.mark.slow
@pytest.mark.parametrize("problem", ["a-database", "a-file"])
def test_serve_refuses_an_unusable_metrics_folder_in_one_line(tmp_path: Path, problem: str) -> None:
    folder = tmp_path / "data"
    if problem == "a-database":
        folder.mkdir()
        (folder / "clinic.db").write_bytes(b"SQLite format 3\x00")
        expected = f"elo: ELO_SERVER__METRICS_DIR={folder} holds other .db files (clinic.db, ...)"
    else:
        folder.write_text("not a folder\n", encoding="utf-8")
        expected = f"elo: ELO_SERVER__METRICS_DIR={folder} is not a folder"
    env = {
        **KEYS,
        "ELO_CLINIC__PROFILE_PATH": str(SAMPLE_PROFILE),
        "ELO_SERVER__METRICS_DIR": str(folder),
    }
    result = run_elo(tmp_path, "serve", "--port", "0", env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[0].startswith(expected), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    if problem == "a-database":
        assert (folder / "clinic.db").read_bytes() == b"SQLite format 3\x00"
