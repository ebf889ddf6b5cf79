#!/usr/bin/env bash
# Everything a fresh Debian/Ubuntu machine needs to build and test fusevm-llvm.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup-llvm.sh
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust from https://rustup.rs first" >&2
  exit 1
fi
