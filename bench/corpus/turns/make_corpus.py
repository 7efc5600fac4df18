"""Regenerates the turn-end corpus: one WAV per utterance, rate and line condition, + manifest.json.

Run ``.venv/bin/python -m bench.corpus.turns.make_corpus`` (needs Debian's ``espeak-ng`` and
``sox``: ``apt-get install espeak-ng sox``). Only developers who change the corpus need them: the
benchmark and the tests read the committed files.

Each file is ``LEAD_S`` of silence, one utterance, ``TAIL_S`` of silence (the benchmark's
transport keeps the line open with silence afterwards). Four versions of every utterance:

- ``16k``: 16 kHz, as LiveKit/WebRTC deliver it;
- ``8k``: the telephone band, high-pass 300 Hz, low-pass 3400 Hz, then 8 kHz (a SIP trunk);
- each with and without ``line`` noise: white noise plus 50 Hz mains hum and its odd harmonics,
  at ``SNR_DB`` below the utterance's speech level, over the whole file (silences included, as on
  a line). The noise is drawn from ``numpy.random.default_rng(seed)`` with the seed in the
  manifest, so it is the same on every run; the 8 kHz noisy file is the 16 kHz noisy file sent
  through the same telephone filter.

``last_sound`` in the manifest is the index of the last sample of the utterance, measured from
the clean signal of the file's own rate: the last sample whose magnitude reaches
``SOUND_THRESHOLD`` (0.5% of full scale, about -46 dBFS, the level sox trims espeak-ng's own
quiet at). The noisy file has the same speech at the same samples, so it shares the index.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import wave
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"
SPEED_WPM = 190  # espeak-ng words per minute (its default is 175), as tests/fixtures/audio
RATE = 16000
PHONE_RATE = 8000
LEAD_S = 0.25
TAIL_S = 0.6
SNR_DB = 20.0
HUM_HZ = 50.0  # Albanian mains
SOUND_THRESHOLD = 164  # 0.5% of 32767: sox's ``silence 1 0.01 0.5%`` threshold
# -D: no dither (deterministic output); -V1: errors only.
SOX = ["sox", "-D", "-V1"]
TRIM = ["silence", "1", "0.01", "0.5%", "reverse", "silence", "1", "0.01", "0.5%", "reverse"]
PHONE_BAND = ["highpass", "300", "lowpass", "3400", "rate", str(PHONE_RATE)]

VOICES = {"sq": "sq", "en": "en-gb", "it": "it"}
# (language, kind, id, text): statements, questions, one-word answers, dates and times, names.
UTTERANCES = [
    ("sq", "statement", "statement", "Dua të rezervoj një kontroll."),
    ("sq", "question", "question", "A keni vend të premten?"),
    ("sq", "one_word", "yes", "Po."),
    ("sq", "one_word", "no", "Jo."),
    ("sq", "number_date", "date", "Nesër në orën dhjetë."),
    ("sq", "name", "name", "Quhem Arbër Çela."),
    ("en", "statement", "statement", "I would like a check-up."),
    ("en", "question", "question", "Do you have anything on Friday?"),
    ("en", "one_word", "yes", "Yes."),
    ("en", "one_word", "no", "No."),
    ("en", "number_date", "date", "Tomorrow at ten, please."),
    ("en", "name", "name", "My name is Arbër Çela."),
    ("it", "statement", "statement", "Vorrei prenotare una visita."),
    ("it", "question", "question", "Avete posto venerdì?"),
    ("it", "one_word", "yes", "Sì."),
    ("it", "one_word", "no", "No."),
    ("it", "number_date", "date", "Domani alle dieci, per favore."),
    ("it", "name", "name", "Mi chiamo Giulia Rossi."),
]


@dataclass(frozen=True)
class Entry:
    """One corpus file, as listed in manifest.json."""

    file: str
    text: str
    language: str
    kind: str
    rate: int
    noise: str  # "none" or "line"
    noise_seed: int | None
    snr_db: float | None
    samples: int
    first_sound: int
    last_sound: int


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    """Write mono 16-bit PCM."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())


def read_pcm(path: Path) -> tuple[np.ndarray, int]:
    """Samples (int16) and rate of a mono 16-bit WAV."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return data, rate


def sound_bounds(samples: np.ndarray) -> tuple[int, int]:
    """Index of the first and last sample at or above ``SOUND_THRESHOLD``."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= SOUND_THRESHOLD)
    if loud.size == 0:
        raise ValueError("no sound in the signal")
    return int(loud[0]), int(loud[-1])


def line_noise(n: int, rate: int, speech_rms: float, seed: int) -> np.ndarray:
    """White noise plus 50 Hz hum (odd harmonics), ``SNR_DB`` below ``speech_rms``."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    hum = sum(np.sin(2 * np.pi * HUM_HZ * k * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 3, 5))
    hiss = rng.standard_normal(n)
    # Equal power from hum and hiss, together SNR_DB below the speech.
    noise = hum / np.sqrt(np.mean(hum**2)) + hiss / np.sqrt(np.mean(hiss**2))
    target = speech_rms / 10 ** (SNR_DB / 20)
    return noise / np.sqrt(np.mean(noise**2)) * target


def _sox(*args: str) -> None:
    subprocess.run([*SOX, *args], check=True)


def _entry(path: Path, clean: Path, text: str, lang: str, kind: str, seed: int | None) -> Entry:
    samples, rate = read_pcm(path)
    first, last = sound_bounds(read_pcm(clean)[0])
    return Entry(
        file=path.name,
        text=text,
        language=lang,
        kind=kind,
        rate=rate,
        noise="none" if seed is None else "line",
        noise_seed=seed,
        snr_db=None if seed is None else SNR_DB,
        samples=len(samples),
        first_sound=first,
        last_sound=last,
    )


def build(work: Path) -> list[Entry]:
    """Write every corpus file next to this module; the manifest entries."""
    entries: list[Entry] = []
    for lang, kind, ident, text in UTTERANCES:
        raw, piece = work / "raw.wav", work / "piece.wav"
        subprocess.run(
            ["espeak-ng", "-v", VOICES[lang], "-s", str(SPEED_WPM), "-w", str(raw), text],
            check=True,
        )
        _sox(str(raw), "-r", str(RATE), "-b", "16", "-c", "1", str(piece), *TRIM)
        speech, _ = read_pcm(piece)
        lead, tail = np.zeros(round(LEAD_S * RATE)), np.zeros(round(TAIL_S * RATE))
        clean = np.concatenate([lead, speech.astype(np.float64), tail])
        seed = zlib.crc32(f"{lang}_{ident}".encode())
        noisy = clean + line_noise(len(clean), RATE, float(np.sqrt(np.mean(speech**2.0))), seed)
        noisy = np.clip(np.round(noisy), -32768, 32767)
        stem = f"{lang}_{ident}"
        for noise, signal in (("clean", clean), ("line", noisy)):
            wide = HERE / f"{stem}_16k_{noise}.wav"
            write_wav(wide, signal, RATE)
            _sox(str(wide), str(HERE / f"{stem}_8k_{noise}.wav"), *PHONE_BAND)
        for rate in ("16k", "8k"):
            clean_path = HERE / f"{stem}_{rate}_clean.wav"
            entries.append(_entry(clean_path, clean_path, text, lang, kind, None))
            entries.append(
                _entry(HERE / f"{stem}_{rate}_line.wav", clean_path, text, lang, kind, seed)
            )
    return entries


def main() -> None:
    """Regenerate the corpus and its manifest."""
    with tempfile.TemporaryDirectory() as tmp:
        entries = build(Path(tmp))
    manifest = {
        "lead_s": LEAD_S,
        "tail_s": TAIL_S,
        "sound_threshold": SOUND_THRESHOLD,
        "tools": "espeak-ng 1.51, SoX 14.4.2 (Debian 12)",
        "files": [asdict(e) for e in entries],
    }
    MANIFEST.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    total = sum((HERE / e.file).stat().st_size for e in entries)
    print(f"{len(entries)} files, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
