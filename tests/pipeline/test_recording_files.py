"""A call recording is personal data: its file is 0600 and the folders Elo makes for it 0700."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.pipeline.test_file_transport import _run_echo


@pytest.mark.asyncio
async def test_recording_file_and_its_new_folder_are_private(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    await _run_echo(tmp_path, realtime=False)
    out = tmp_path / "out"
    assert stat.S_IMODE(os.stat(out / "elo.wav").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o755  # not Elo's folder: untouched
