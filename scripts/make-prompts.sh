#!/usr/bin/env bash
# Regenerates the spoken IVR prompts (pipelines/assets/prompts/*.ul: 8 kHz mono G.711 mu-law,
# telephone quality, a few KB each) with espeak-ng and ffmpeg. The files are committed, so
# neither is needed to build or run Convene; run this after changing a prompt's words.
set -euo pipefail
cd "$(dirname "$0")/../pipelines/assets/prompts"
say() {
  espeak-ng -v en-gb -s 150 -w "/tmp/convene-prompt-$1.wav" "$2"
  ffmpeg -hide_banner -loglevel error -y -i "/tmp/convene-prompt-$1.wav" -ar 8000 -ac 1 -f mulaw "$1.ul"
  rm -f "/tmp/convene-prompt-$1.wav"
}
say pin_entry "Welcome. Please enter the PIN, followed by the hash key."
say pin_retry "That PIN was not valid. Please try again, followed by the hash key."
say waiting_for_host "Please wait. The meeting will start when the host joins."
say locked "This meeting is locked. Please wait to be admitted."
say reception "Welcome. Please enter the number of the meeting you want to join, followed by the hash key."
say reception_retry "That number was not recognised. Please try again, followed by the hash key."
say reception_timeout "No meeting number was entered. Goodbye."
say reception_failed "That number was not recognised. Goodbye."
