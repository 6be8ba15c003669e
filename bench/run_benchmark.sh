#!/usr/bin/env bash
# The two benchmark runs of bench/README.md ("Evaluation suite"): the HiFaceGAN protocol
# (preset hifacegan-fr, seed 0) with the baselines and the `identity` model on
#   1. the 10 shared FFHQ images, resized to 512x512;
#   2. the first 200 UTKFace chips (sorted by file name), at their native 200x200.
# Outputs go to out/bench-ffhq512/ and out/bench-utk200/ (not tracked); the tables are
# out/*/benchmark.md. Usage: bash bench/run_benchmark.sh [ffhq|utk|all] [extra hiface args]
set -euo pipefail
cd "$(dirname "$0")/.."
HIFACE=${HIFACE:-.venv/bin/hiface}
SHARED=${HIFACE_SHARED:-../shared}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
what=${1:-all}; shift || true
if [[ $what == ffhq || $what == all ]]; then
  time "$HIFACE" benchmark --gt "$SHARED/data/faces/ffhq1024" --size 512 --preset hifacegan-fr --seed 0 \
    --models identity -o out/bench-ffhq512 --overwrite "$@"
fi
if [[ $what == utk || $what == all ]]; then
  time "$HIFACE" benchmark --gt "$SHARED/data/faces/utk200" --limit 200 --preset hifacegan-fr --seed 0 \
    --models identity -o out/bench-utk200 --overwrite "$@"
fi
