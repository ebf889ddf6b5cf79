#!/usr/bin/env bash
# The peers bench-report measures beside us: Lua 5.4 and LuaJIT 2.1, from the
# distribution's packages (idempotent).
set -euo pipefail
if command -v lua5.4 >/dev/null 2>&1 && command -v luajit >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup-bench: installing lua5.4 and luajit" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends lua5.4 luajit >/dev/null
