#!/usr/bin/env bash
# Set up the machine, then run one example program through the CLI with timing
# (the README's quick-start command). Usage: ci/run-example.sh [FILE.fasm]
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
cargo run --release --quiet -- run --time "${1:-examples/mandelbrot.fasm}"
