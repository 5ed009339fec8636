#!/usr/bin/env bash
# Renders the demo: ../shared/data/reference.png driven by ../shared/data/driving.mp4.
# Until the built-in generator lands, it uses a generated TEST pack: the output shows the
# pipeline working end to end (timing, frame count, audio), not a real animation.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${PERSONALIVE_DATA:-../shared/data}"
PACK="${PERSONALIVE_PACK:-out/test-pack-512}"
mkdir -p out
if [ ! -f "$PACK/manifest.json" ]; then
  node bin/personalive.js pack make-test "$PACK" --resolution 512 --decoder-output bytes
fi
node bin/personalive.js animate --reference "$DATA/reference.png" --driving "$DATA/driving.mp4" \
  --pack "$PACK" --out out/demo.mp4 "$@"
