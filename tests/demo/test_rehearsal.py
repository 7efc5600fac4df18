import sqlite3
import wave

import pytest

from demo.rehearsal import rehearse


@pytest.mark.slow
@pytest.mark.asyncio
async def test_make_demo_books_through_the_real_pipeline(tmp_path, capsys):
    assert await rehearse(tmp_path / "demo") == 0
    printed = capsys.readouterr().out
    assert "SCRIPTED local emulator" in printed
    assert "Booked: appointment 1, checkup" in printed
    with sqlite3.connect(tmp_path / "demo" / "rehearsal.db") as db:
        assert db.execute("SELECT outcome FROM calls").fetchall() == [("booked",)]
        assert db.execute("SELECT source FROM appointments").fetchall() == [("agent",)]
    with wave.open(str(tmp_path / "demo" / "elo.wav"), "rb") as wav:
        assert wav.getnframes() > 0
