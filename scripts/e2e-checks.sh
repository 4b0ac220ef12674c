# The checks the end-to-end scripts (compose-e2e.sh, swarm-e2e.sh) are written in; sourced,
# not run. The sourcing script sets `passed=0 failed=0 started=$SECONDS` first and prints
# "NAME: $passed passed, $failed failed" when it ends.

step() { echo "== [$((SECONDS - started))s] $*"; }
ok() { passed=$((passed + 1)); echo "   ok: $*"; }
# A failed check ends the run: everything after it builds on it.
fail() {
  failed=$((failed + 1))
  echo "   FAIL: $*"
  exit 1
}
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
# Runs a command showing its output only if it fails.
quietly() {
  local out
  out=$("$@" 2>&1) && return 0
  local status=$?
  printf '%s\n' "$out" | tail -n 20 | sed 's/^/   /'
  return "$status"
}
# Retries a command until it succeeds or `seconds` pass.
wait_until() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  while :; do
    if "$@" >/dev/null 2>&1; then
      ok "$what"
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      "$@" || true # show what the last attempt said
      fail "$what (not within ${seconds}s)"
    fi
    sleep 1
  done
}
# For the EXIT trap: a run that ended with status $1 outside any check counts as failed.
count_unexpected_exit() {
  if [ "$1" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
    echo "   FAIL: the test stopped unexpectedly (exit status $1)"
  fi
}
