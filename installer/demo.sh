#!/usr/bin/env bash
# Renders the demo: ../shared/data/reference.png driven by ../shared/data/driving.mp4 into
# out/demo.mp4 with the built-in CPU generator (no downloads). With PERSONALIVE_PACK set to
# a model pack folder, the PersonaLive generator renders it instead.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${PERSONALIVE_DATA:-../shared/data}"
mkdir -p out
node bin/personalive.js animate --reference "$DATA/reference.png" --driving "$DATA/driving.mp4" --out out/demo.mp4 "$@"
