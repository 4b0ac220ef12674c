#!/usr/bin/env bash
# End-to-end check of scripts/devnet.sh, as a newcomer would use it: the network comes up,
# a post made through the web app is mined on another node and reaches every node and the
# page, and stopping it stops every process. Uses the debug build the tests already made and
# ports of its own. Prints "devnet-e2e: N passed, M failed" and fails if any check did.
set -uo pipefail
# Pipes into grep read the whole input (grep >/dev/null, never grep -q): grep -q exits at
# the first match, the writer then dies of SIGPIPE, and pipefail turns a match into a failure.
cd "$(dirname "$0")/.."

base=18500
web=15500
data=./data/devnet-e2e
log=$(mktemp)
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok: $1"; }
fail() { failed=$((failed + 1)); echo "FAILED: $1"; }

# Polls a command until it succeeds or 60 seconds pass.
eventually() {
  for _ in $(seq 1 600); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}

scripts/devnet.sh --debug --fresh --difficulty 8 --base-port "$base" --web-port "$web" \
  --data "$data" >"$log" 2>&1 &
devnet=$!

if eventually grep -q "web app up" "$log"; then pass "devnet.sh brings up the web app"; else fail "devnet.sh did not come up"; cat "$log"; fi
if [ "$(grep -c '^node [0-9]* up: ' "$log")" -eq 3 ]; then pass "three nodes reported up"; else fail "expected three nodes up"; fi

status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$web/submit" \
  --data-urlencode 'author=newcomer' --data-urlencode 'content=hello from the devnet')
if [ "$status" = 303 ]; then pass "a post through the web app is accepted"; else fail "submit answered $status"; fi

has_pending() { curl -sf "http://127.0.0.1:$((base + 2))/pending_tx" | grep 'hello from the devnet' >/dev/null; }
if eventually has_pending; then pass "the post reaches the third node by gossip"; else fail "the post never reached node 3"; fi

mined=$(curl -s "http://127.0.0.1:$((base + 2))/mine")
if [ "$mined" = "Block #1 is mined." ]; then pass "the third node mines it"; else fail "mine answered: $mined"; fi

at_height_one() {
  for port in "$base" $((base + 1)) $((base + 2)); do
    curl -sf "http://127.0.0.1:$port/status" | grep '"height":1,' >/dev/null || return 1
  done
}
if eventually at_height_one; then pass "every node has the block"; else fail "the nodes did not converge"; fi

on_page() { curl -sf "http://127.0.0.1:$web/" | grep 'hello from the devnet' >/dev/null; }
if eventually on_page; then pass "the web app lists the post"; else fail "the post is not on the page"; fi

# A background job of a script ignores SIGINT, so stand in for Ctrl-C with SIGTERM, which
# devnet.sh handles the same way.
kill -TERM "$devnet"
wait "$devnet"
if pgrep -f "$data" >/dev/null; then
  fail "processes survived: $(pgrep -fa "$data")"
  pkill -f "$data"
else
  pass "stopping devnet.sh stops every node and the web app"
fi

rm -rf "$data" "$log"
echo "devnet-e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
