#!/usr/bin/env bash
# Install LLVM 19 (development files) from the distribution, once.
# Idempotent: does nothing when /usr/lib/llvm-19/bin/llvm-config exists.
set -euo pipefail
if [ -x /usr/lib/llvm-19/bin/llvm-config ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup-llvm: installing llvm-19-dev" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends llvm-19-dev >/dev/null
/usr/lib/llvm-19/bin/llvm-config --version >&2
