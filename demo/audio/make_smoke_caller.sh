#!/usr/bin/env bash
# Regenerates smoke_caller_en_16k.wav, the recorded caller of `make smoke`.
#
# Needs Debian's espeak-ng and sox (apt-get install espeak-ng sox); only whoever changes the file
# needs them, the smoke test reads the committed WAV. One English question, spoken as a single
# utterance (a comma, not a full stop, after "Hello": espeak-ng pauses 0.3 s at a full stop, which
# a short VAD stop time could take for the end of a turn; at the comma it pauses 0.14 s), between
# 0.3 s of silence on each side: 16 kHz mono PCM16, about 3.5 s. Made with espeak-ng 1.51 and
# SoX 14.4.2 (Debian 12); -D turns off dither, so the output is the same on every run.
set -euo pipefail
cd "$(dirname "$0")"
export LC_ALL=C

for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install espeak-ng sox" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
SOX=(sox -D -V1)

espeak-ng -v en -s 175 -w "$work/raw.wav" "Hello, do you have any free appointments tomorrow morning?"
"${SOX[@]}" "$work/raw.wav" -r 16000 -b 16 -c 1 "$work/speech.wav" \
    silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse
"${SOX[@]}" -n -r 16000 -b 16 -c 1 "$work/lead.wav" trim 0 0.3
"${SOX[@]}" "$work/lead.wav" "$work/speech.wav" "$work/lead.wav" smoke_caller_en_16k.wav
