"""Saving an edited clinic profile: validated, atomic, the previous version kept."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from config.clinic import load_clinic_profile
from config.clinic_file import previous_path, save_clinic_profile
from config.settings import ConfigError
from tests.conftest import SAMPLE_PROFILE


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.toml"
    path.write_bytes(SAMPLE_PROFILE.read_bytes())
    path.chmod(0o640)
    return path


def test_a_valid_profile_replaces_the_file_and_the_old_one_is_kept(profile: Path) -> None:
    old = profile.read_text(encoding="utf-8")
    new = old.replace("chairs = 3", "chairs = 4", 1)
    saved = save_clinic_profile(profile, new)
    assert saved.chairs == 4
    assert profile.read_text(encoding="utf-8") == new
    assert load_clinic_profile(profile).chairs == 4
    assert previous_path(profile).read_text(encoding="utf-8") == old
    # The file keeps its permissions; no temporary file is left behind.
    assert stat.S_IMODE(profile.stat().st_mode) == 0o640
    assert sorted(p.name for p in profile.parent.iterdir()) == [
        "clinic.toml",
        "clinic.toml.previous",
    ]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (("chairs = 3", "chairs = 0"), "chairs: Input should be greater than or equal to 1"),
        (("chairs = 3", "chairs = "), "is not valid TOML"),
        (('time_zone = "Europe/Tirane"', 'time_zone = "Mars/Olympus"'), "unknown time zone"),
    ],
)
def test_an_invalid_profile_is_one_line_and_nothing_is_written(
    profile: Path, change: tuple[str, str], says: str
) -> None:
    old = profile.read_bytes()
    text = old.decode("utf-8").replace(*change, 1)
    with pytest.raises(ConfigError) as caught:
        save_clinic_profile(profile, text)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)
    assert profile.read_bytes() == old
    assert not previous_path(profile).exists()
    assert [p.name for p in profile.parent.iterdir()] == ["clinic.toml"]


def test_a_place_that_cannot_be_written_is_one_line_and_the_file_unchanged(profile: Path) -> None:
    # A folder where the kept version goes: no rename can replace it, not even as root.
    previous_path(profile).mkdir()
    old = profile.read_bytes()
    with pytest.raises(ConfigError, match="cannot be written") as caught:
        save_clinic_profile(profile, old.decode("utf-8").replace("chairs = 3", "chairs = 4"))
    assert "\n" not in str(caught.value)
    assert profile.read_bytes() == old
    assert sorted(p.name for p in profile.parent.iterdir()) == [
        "clinic.toml",
        "clinic.toml.previous",
    ]
