"""Log files (also after rotation) are 0600 and the folders Elo creates for them 0700."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from loguru import logger

from config.logs import configure_logging
from config.private_files import create_private_file, make_private_dirs
from config.settings import AppSettings


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_log_files_and_new_log_folders_are_private(settings: AppSettings, tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    log_file = tmp_path / "var" / "logs" / "elo.jsonl"
    # Rotate at 1 MB (the smallest setting), so a few large records make a second file.
    logging = settings.logging.model_copy(
        update={"file": log_file, "rotation_mb": 1, "mask_pii": False}  # masking is not the point
    )
    configure_logging(logging, console=False)
    try:
        for _ in range(30):
            logger.info("x" * 50_000)
    finally:
        logger.remove()
    files = list(log_file.parent.iterdir())
    assert len(files) >= 2, "expected a rotated log file"
    assert all(_mode(path) == 0o600 for path in files), [oct(_mode(p)) for p in files]
    assert _mode(tmp_path / "var") == 0o700
    assert _mode(tmp_path / "var" / "logs") == 0o700
    assert _mode(tmp_path) == 0o755


def test_existing_files_and_folders_are_left_as_they_are(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o775)
    existing = shared / "elo.db"
    existing.write_bytes(b"")
    os.chmod(existing, 0o640)
    make_private_dirs(shared)
    create_private_file(existing)
    create_private_file(shared / "new.db")
    assert (_mode(shared), _mode(existing), _mode(shared / "new.db")) == (0o775, 0o640, 0o600)
