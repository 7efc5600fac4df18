"""``ELO_PRIVACY__HASH_KEY=hex:...``: a SQLite clinic's generated key, moved into the setting
(`elo db copy` to PostgreSQL), hashes exactly as the key file did."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.errors import PrivacyError
from storage.privacy_keys import PrivacyKeys, key_file_for, load_key_file

PHONE = "+355691234567"


def test_the_hex_form_of_the_key_file_hashes_alike(tmp_path: Path) -> None:
    key_file = key_file_for(tmp_path / "elo.db")
    from_file = PrivacyKeys(key=None, key_file=key_file).subject_hash(PHONE)  # creates the file
    text = key_file.read_text().strip()
    assert load_key_file(key_file, create=False) == bytes.fromhex(text)
    assert PrivacyKeys(key=f"hex:{text}", key_file=None).subject_hash(PHONE) == from_file
    # The key file's text taken as a plain setting is another key altogether.
    assert PrivacyKeys(key=text, key_file=None).subject_hash(PHONE) != from_file


def test_a_plain_key_is_its_utf8_text() -> None:
    assert PrivacyKeys(key="ab", key_file=None).subject_hash(PHONE) == PrivacyKeys(
        key="hex:6162", key_file=None
    ).subject_hash(PHONE)


def test_hex_that_is_not_hex_is_refused() -> None:
    with pytest.raises(PrivacyError, match="only hex digits"):
        PrivacyKeys(key="hex:not-hex", key_file=None)
