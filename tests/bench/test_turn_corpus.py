"""The committed turn-end corpus (bench/corpus/turns) is what its manifest says it is.

The benchmark measures from each file's ``last_sound`` sample, so that index must be the signal's
own: for a clean file it is recomputed here from the samples; a noisy file carries the same speech
as its clean twin (the difference is only the seeded noise, well below the speech).
"""

from __future__ import annotations

import json
import wave
from itertools import product

import numpy as np
import pytest

from bench.corpus.turns.make_corpus import (
    HERE,
    LEAD_S,
    MANIFEST,
    SNR_DB,
    TAIL_S,
    UTTERANCES,
    sound_bounds,
)

ENTRIES = json.loads(MANIFEST.read_text(encoding="utf-8"))["files"]
BY_NAME = {e["file"]: e for e in ENTRIES}


def _samples(name: str) -> np.ndarray:
    with wave.open(str(HERE / name), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2), "need mono 16-bit PCM"
        assert wav.getframerate() == BY_NAME[name]["rate"]
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int64)


def _twin(entry: dict) -> str:
    return entry["file"].replace("_line.wav", "_clean.wav")


def test_the_corpus_covers_every_language_kind_rate_and_line():
    kinds = {"statement", "question", "one_word", "number_date", "name"}
    seen = {(e["language"], e["kind"], e["rate"], e["noise"]) for e in ENTRIES}
    assert seen == set(product(("sq", "en", "it"), kinds, (16000, 8000), ("none", "line")))
    one_word = {(e["language"], e["text"]) for e in ENTRIES if e["kind"] == "one_word"}
    assert one_word == {
        ("sq", "Po."),
        ("sq", "Jo."),
        ("en", "Yes."),
        ("en", "No."),
        ("it", "Sì."),
        ("it", "No."),
    }
    assert len(ENTRIES) == len(UTTERANCES) * 4 == len(set(BY_NAME))
    assert sorted(p.name for p in HERE.glob("*.wav")) == sorted(BY_NAME)
    assert sum((HERE / name).stat().st_size for name in BY_NAME) < 3.5e6


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_each_file_is_well_formed(name: str):
    entry = BY_NAME[name]
    rate = entry["rate"]
    samples = _samples(name)
    assert rate in (8000, 16000)
    assert len(samples) == entry["samples"]
    first, last = entry["first_sound"], entry["last_sound"]
    # Quiet before and enough quiet after: a VAD needs its stop time of silence to end the turn.
    assert first >= 0.9 * LEAD_S * rate
    assert len(samples) - 1 - last >= 0.9 * TAIL_S * rate
    assert last - first > 0.1 * rate  # a word at least
    if entry["noise"] == "none":
        assert sound_bounds(samples) == (first, last)
    else:
        twin = BY_NAME[_twin(entry)]
        assert (twin["first_sound"], twin["last_sound"], twin["samples"]) == (
            first,
            last,
            len(samples),
        )
        clean = _samples(twin["file"])
        noise = samples - clean
        assert noise[:first].any() and noise[last:].any()  # on the line before and after speech
        speech_rms = np.sqrt(np.mean(clean[first : last + 1] ** 2.0))
        noise_rms = np.sqrt(np.mean(noise**2.0))
        # SNR_DB in the 16 kHz file; the phone band also filters out part of the noise (the hum).
        assert 20 * np.log10(speech_rms / noise_rms) >= SNR_DB - 3
