#!/usr/bin/env bash
# Regenerates answering_machine_sq_16k.wav, the answering machine of `make demo-campaign`.
#
# Needs Debian's espeak-ng and sox (apt-get install espeak-ng sox); only whoever changes the file
# needs them, the demo reads the committed WAV. It is speech (so Silero VAD hears a turn and the
# audio reaches the model) followed by the machine's beep: 16 kHz mono PCM16, about 5 s.
set -euo pipefail
cd "$(dirname "$0")"
export LC_ALL=C

for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install espeak-ng sox" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
SOX=(sox -D -V1)

espeak-ng -v sq -s 175 -w "$work/raw.wav" \
    "Numri që telefonuat nuk përgjigjet. Ju lutem lini një mesazh pas sinjalit."
"${SOX[@]}" "$work/raw.wav" -r 16000 -b 16 -c 1 "$work/speech.wav" \
    silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse
"${SOX[@]}" -n -r 16000 -b 16 -c 1 "$work/lead.wav" trim 0 0.3
"${SOX[@]}" -n -r 16000 -b 16 -c 1 "$work/gap.wav" trim 0 0.4
"${SOX[@]}" -n -r 16000 -b 16 -c 1 "$work/beep.wav" synth 0.4 sine 1000 vol 0.5
"${SOX[@]}" -n -r 16000 -b 16 -c 1 "$work/tail.wav" trim 0 0.5
"${SOX[@]}" "$work/lead.wav" "$work/speech.wav" "$work/gap.wav" "$work/beep.wav" "$work/tail.wav" \
    answering_machine_sq_16k.wav
