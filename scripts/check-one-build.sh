#!/usr/bin/env bash
# CI's check that the README's commands share one build: after `cargo test --workspace`,
# the builds that scripts/devnet.sh and `cargo run -p node` make must compile nothing. A
# dependency feature that only one crate, or only the tests, turn on breaks this: every
# crate above that dependency is then compiled twice, and a newcomer waits minutes for it.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
check() {
  local compiled
  compiled="$(cargo build --locked "$@" 2>&1 | grep -E '^ *Compiling ' || true)"
  if [ -n "$compiled" ]; then
    echo "cargo build $* compiled again what the tests had built:" >&2
    echo "$compiled" >&2
    status=1
  else
    echo "cargo build $*: nothing to compile"
  fi
}

check -p node -p webapp # scripts/devnet.sh --debug
check -p node           # cargo run -p node
check --workspace
exit "$status"
