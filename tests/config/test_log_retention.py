"""Log files age out with the privacy retention period: daily rotation, deletion by age, count."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from config.logs import configure_logging, log_retention
from config.settings import AppSettings

DAY = 86_400


@pytest.fixture(autouse=True)
def _restore_loguru() -> Iterator[None]:
    yield
    logger.remove()
    logger.configure(patcher=lambda record: None)


def _age(path: Path, days: float) -> None:
    moment = time.time() - days * DAY
    os.utime(path, (moment, moment))


def test_a_log_file_from_an_earlier_day_rotates_and_old_rotated_files_are_deleted(
    settings: AppSettings, tmp_path: Path
) -> None:
    log_file = tmp_path / "logs" / "elo.jsonl"
    log_file.parent.mkdir()
    # Yesterday's file, and rotated files from last week and from 200 days ago.
    log_file.write_text('{"message": "yesterday"}\n', encoding="utf-8")
    _age(log_file, 1)
    last_week = tmp_path / "logs" / "elo.2026-11-26_09-00-00_000000.jsonl"
    last_week.write_text('{"message": "last week"}\n', encoding="utf-8")
    _age(last_week, 7)
    ancient = tmp_path / "logs" / "elo.2026-05-17_09-00-00_000000.jsonl"
    ancient.write_text('{"message": "May"}\n', encoding="utf-8")
    _age(ancient, 200)

    configure_logging(
        settings.logging.model_copy(update={"file": log_file}), console=False, retention_days=90
    )
    logger.info("today")
    logger.remove()

    files = sorted(p.name for p in log_file.parent.iterdir())
    assert ancient.name not in files  # older than the retention period
    assert last_week.name in files
    assert len(files) == 3  # today's file, yesterday's (rotated), last week's
    assert "today" in log_file.read_text(encoding="utf-8")
    assert "yesterday" not in log_file.read_text(encoding="utf-8")


def test_a_file_from_today_does_not_rotate(settings: AppSettings, tmp_path: Path) -> None:
    log_file = tmp_path / "elo.jsonl"
    log_file.write_text('{"message": "earlier today"}\n', encoding="utf-8")
    configure_logging(
        settings.logging.model_copy(update={"file": log_file}), console=False, retention_days=90
    )
    logger.info("now")
    logger.remove()
    assert [p.name for p in tmp_path.iterdir()] == ["elo.jsonl"]
    assert "earlier today" in log_file.read_text(encoding="utf-8")


def test_retention_keeps_at_most_the_backups_and_nothing_older_than_the_limit(
    tmp_path: Path,
) -> None:
    paths = []
    for days in (1, 2, 3, 40, 95):
        path = tmp_path / f"elo.{days}.jsonl"
        path.write_text("{}\n", encoding="utf-8")
        _age(path, days)
        paths.append(path)
    log_retention(backups=3, max_age_days=90)([str(p) for p in paths])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "elo.1.jsonl",
        "elo.2.jsonl",
        "elo.3.jsonl",
    ]

    for days in (40, 95):
        path = tmp_path / f"elo.{days}.jsonl"
        path.write_text("{}\n", encoding="utf-8")
        _age(path, days)
    log_retention(backups=10, max_age_days=None)([str(p) for p in tmp_path.iterdir()])
    assert len(list(tmp_path.iterdir())) == 5  # no age limit: the count alone decides
