#!/usr/bin/env bash
# How far a fusevm port is a rename: builds fusevm 0.26.10's own test files
# against this crate (the dependency renamed, fusevm's feature names declared
# with `jit` on), runs them, and prints per file whether it compiled and how
# many of its tests passed and failed, then one summary line.
#
# The test files come from cargo's registry copy of the crate (fetched if
# missing); nothing of fusevm is copied into this repository. Work happens in
# target/fusevm-compat (FUSEVM_COMPAT_DIR to move it).
#
#   bash ci/fusevm-compat.sh              every test file
#   bash ci/fusevm-compat.sh vm_pool ...  only these
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
version=0.26.10
work=${FUSEVM_COMPAT_DIR:-$repo/target/fusevm-compat}
registry=${CARGO_HOME:-$HOME/.cargo}/registry/src

find_src() { ls -d "$registry"/*/fusevm-$version 2>/dev/null | head -n 1 || true; }

src=$(find_src)
if [ -z "$src" ]; then
  fetch=$work/fetch
  mkdir -p "$fetch/src"
  printf '[package]\nname = "fetch-fusevm"\nversion = "0.0.0"\nedition = "2021"\n[workspace]\n[dependencies]\nfusevm = "=%s"\n' \
    "$version" >"$fetch/Cargo.toml"
  : >"$fetch/src/lib.rs"
  (cd "$fetch" && cargo fetch -q)
  src=$(find_src)
fi
[ -n "$src" ] || { echo "fusevm-compat: fusevm $version not found in $registry" >&2; exit 2; }

crate=$work/crate
rm -rf "$crate"
mkdir -p "$crate/src" "$crate/tests"
: >"$crate/src/lib.rs"
names=()
if [ $# -gt 0 ]; then
  names=("$@")
else
  for f in "$src"/tests/*.rs; do names+=("$(basename "$f" .rs)"); done
fi
{
  printf '[package]\nname = "fusevm-compat"\nversion = "0.0.0"\nedition = "2021"\npublish = false\nautotests = false\n\n'
  printf '[workspace]\n\n'
  printf '[dependencies]\nfusevm = { package = "fusevm-llvm", path = "%s" }\n\n' "$repo"
  printf '[dev-dependencies]\nserde = { version = "1", features = ["derive"] }\nserde_json = "1"\nbincode = "1"\n\n'
  # fusevm's features, so its tests' cfg(feature = ...) resolve; ours has
  # a JIT (on) but no AOT, FFI or rkyv archive (off).
  printf '[features]\ndefault = ["jit"]\njit = []\njit-disk-cache = []\naot = []\nffi = []\nrkyv-archive = []\n\n'
  for n in "${names[@]}"; do
    cp "$src/tests/$n.rs" "$crate/tests/$n.rs"
    printf '[[test]]\nname = "%s"\npath = "tests/%s.rs"\n\n' "$n" "$n"
  done
} >"$crate/Cargo.toml"

export CARGO_TARGET_DIR=$work/target
cd "$crate"
cargo build -q 2>/dev/null || cargo build
compiled=0 passed=0 failed=0
for n in "${names[@]}"; do
  log=$work/$n.log
  if ! cargo test -q --no-run --test "$n" >"$log" 2>&1; then
    errors=$(grep -c '^error\[' "$log" || true)
    first=$(grep -m 1 '^error' "$log" | cut -c 1-110)
    printf '%-48s did not compile (%s errors; first: %s)\n' "$n" "$errors" "$first"
    continue
  fi
  compiled=$((compiled + 1))
  timeout 300 cargo test -q --test "$n" -- --test-threads=2 >"$log" 2>&1 || true
  line=$(grep -m 1 '^test result:' "$log" || true)
  if [ -z "$line" ]; then
    printf '%-48s compiled; did not finish (crash or timeout)\n' "$n"
    continue
  fi
  p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line")
  f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
  passed=$((passed + p))
  failed=$((failed + f))
  printf '%-48s compiled; %s passed, %s failed\n' "$n" "$p" "$f"
done
echo "fusevm-compat: $compiled/${#names[@]} files compiled; tests: $passed passed, $failed failed"
