#!/usr/bin/env bash
# Builds the fuzz targets in fuzz/ and replays each one's committed seeds
# (fuzz/seeds/<target>/), so the seeds, and every input that once found a bug, stay a
# regression suite. Needs neither cargo-fuzz nor nightly: libfuzzer-sys builds libFuzzer
# with the C++ compiler, and a binary without coverage instrumentation can still run the
# inputs it is given (it just cannot search for new ones; see fuzz/README.md for that).
#
# It builds in the workspace's target directory with the dev profile, so after
# `cargo test` the dependencies are already compiled and only the targets are.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"

echo "== fuzz targets: build"
# fuzz/ is a workspace of its own with its own lock file; it falls out of date when the
# node gains a dependency.
if ! cargo build --manifest-path fuzz/Cargo.toml --locked --bins --target-dir "$target_dir"; then
  echo "the fuzz targets do not build; if fuzz/Cargo.lock is out of date, refresh it with" \
    "'cargo metadata --manifest-path fuzz/Cargo.toml >/dev/null' and commit it" >&2
  exit 1
fi

echo "== fuzz targets: format and lints"
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --manifest-path fuzz/Cargo.toml --locked --bins --target-dir "$target_dir" -- -D warnings

for source in fuzz/fuzz_targets/*.rs; do
  target="$(basename "$source" .rs)"
  seeds="fuzz/seeds/$target"
  echo "== fuzz seeds: $target ($(find "$seeds" -type f | wc -l) inputs)"
  # -runs=0 executes the given inputs once and stops; a panic aborts with a non-zero exit
  # and leaves the input under fuzz/artifacts/ (ignored by git).
  mkdir -p "fuzz/artifacts/$target"
  "$target_dir/debug/$target" -runs=0 -artifact_prefix="fuzz/artifacts/$target/" "$seeds"
done
