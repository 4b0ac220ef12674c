#!/usr/bin/env bash
# End-to-end test of the real Dockerfile and docker-compose.yml (CI runs it):
#   1. builds the base images locally when the engine cannot pull them
#      (scripts/docker-base-images.sh), then `compose up --build` three nodes and the web app;
#   2. posts through the web app, mines on node2, sees the post on every node;
#   3. cuts node3 off the compose network (`docker network disconnect`), mines one block on
#      node1 and two on node3 (reached with `docker exec`: a disconnected container has no
#      published port), reconnects node3 under its service name, and checks that every node
#      ends on one tip with every post kept;
#   4. restarts node2 and checks its chain survived in its volume; always tears down (down -v).
#
# It uses host ports 18000-18002 and 15000 (E2E_PORT_BASE, E2E_WEB_PORT) and difficulty 8
# (E2E_DIFFICULTY), all through the compose file's own variables. The last line it prints is
# `compose-e2e: N passed, M failed`; it exits non-zero on any failure.
#
#   scripts/compose-e2e.sh
set -uo pipefail
# Pipes into grep read the whole input (grep >/dev/null, never grep -q): grep -q exits at
# the first match, the writer then dies of SIGPIPE, and pipefail turns a match into a failure.
cd "$(dirname "$0")/.." || exit 1

project=${E2E_PROJECT:-chainpost-e2e}
port_base=${E2E_PORT_BASE:-18000}
export CHAINPOST_DIFFICULTY=${E2E_DIFFICULTY:-8}
export CHAINPOST_SYNC_INTERVAL=2
export CHAINPOST_MINE=false
export CHAINPOST_BIND=127.0.0.1
export CHAINPOST_NODE1_PORT=$port_base
export CHAINPOST_NODE2_PORT=$((port_base + 1))
export CHAINPOST_NODE3_PORT=$((port_base + 2))
export CHAINPOST_WEB_PORT=${E2E_WEB_PORT:-15000}
web=http://127.0.0.1:$CHAINPOST_WEB_PORT

passed=0
failed=0
started=$SECONDS
logs=$(mktemp -d "${TMPDIR:-/tmp}/chainpost-compose-e2e.XXXXXX")
compose_cmd=()
brought_up=false
partitioned=false

# shellcheck source=scripts/e2e-checks.sh
source scripts/e2e-checks.sh

finish() {
  local status=$?
  trap - EXIT INT TERM
  count_unexpected_exit "$status"
  if $brought_up; then
    if [ "$failed" -ne 0 ]; then
      echo "== logs of the stack (last 40 lines of each service)"
      compose logs --no-color --tail 40 2>&1 | sed 's/^/   /' || true
    fi
    step "tearing down (down -v)"
    compose down -v --remove-orphans >"$logs/down.log" 2>&1 || cat "$logs/down.log"
    prune_old_images
  fi
  rm -rf "$logs"
  echo "compose-e2e: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && exit 0 || exit 1
}
trap finish EXIT
trap 'exit 130' INT TERM

# Images of earlier runs that nothing uses any more: replaced chainpost images and, with the
# classic builder, the build stage of every build but the newest (about 2 GB each, kept as
# the next build's cache). Labels set in the Dockerfile tell them apart.
prune_old_images() {
  local old
  old=$(docker images -q --filter dangling=true --filter label=chainpost.stage=build | tail -n +2)
  old="$old $(docker images -q --filter dangling=true --filter label=chainpost.stage=runtime)"
  # shellcheck disable=SC2086 # one id a word
  [ -z "${old// /}" ] || docker rmi $old >/dev/null 2>&1 || true
}
compose() { "${compose_cmd[@]}" -p "$project" -f docker-compose.yml "$@"; }
cid() { compose ps -q "$1"; }

# ---- HTTP against the nodes ------------------------------------------------------------------
# Node N (1-3) on its published port; node3 through `docker exec` while it is cut off.
node_curl() { # node, path, curl options...
  local n=$1 path=$2
  shift 2
  if [ "$n" = 3 ] && $partitioned; then
    docker exec "$(cid node3)" curl -fsS -m 30 "$@" "http://127.0.0.1:8000$path"
  else
    curl -fsS -m 30 "$@" "http://127.0.0.1:$((port_base + n - 1))$path"
  fi
}
node_get() { node_curl "$1" "$2"; }
node_post_json() { node_curl "$1" "$2" -H 'Content-Type: application/json' -d "$3"; }
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
status_field() { node_get "$1" /status | json_field "$2"; }
tip() { status_field "$1" tip; }
height() { status_field "$1" height; }
# The contents of the posts on node N's best chain, one a line.
chain_posts() {
  node_get "$1" /chain | python3 -c '
import json, sys
for block in json.load(sys.stdin)["chain"]:
    for tx in block["transactions"]:
        print(tx["content"])'
}
pending_posts() {
  node_get "$1" /pending_tx | python3 -c '
import json, sys
for tx in json.load(sys.stdin):
    print(tx["content"])'
}

post() { # node, content
  node_post_json "$1" /new_transaction "{\"author\": \"e2e\", \"content\": \"$2\"}" >/dev/null
}
mine() { node_get "$1" /mine; }

# ---- conditions ------------------------------------------------------------------------------
all_healthy() {
  local service
  for service in node1 node2 node3 webapp; do
    [ "$(docker inspect -f '{{.State.Health.Status}}' "$(cid "$service")" 2>/dev/null)" = healthy ] || return 1
  done
}
difficulty_everywhere() {
  local n
  for n in 1 2 3; do [ "$(status_field "$n" difficulty)" = "$CHAINPOST_DIFFICULTY" ] || return 1; done
}
fully_peered() {
  local n
  for n in 1 2 3; do [ "$(status_field "$n" peers)" = 2 ] || return 1; done
}
non_root() {
  local service uid
  for service in node1 webapp; do
    uid=$(docker exec "$(cid "$service")" id -u) && [ "$uid" != 0 ] || return 1
  done
}
data_in_named_volumes() {
  local n
  for n in 1 2 3; do
    docker inspect -f '{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{"\n"}}{{end}}' "$(cid "node$n")" |
      grep -E "^volume ${project}_node$n-data /data\$" >/dev/null || return 1
  done
}
web_app_serves() {
  curl -fsS -m 10 "$web/" | grep -i chainpost >/dev/null && curl -fsS -m 10 -o /dev/null "$web/static/app.css"
}
web_shows() { curl -fsS -m 10 "$web/" | grep -F "$1" >/dev/null; }
pending_on() { pending_posts "$1" | grep -xF "$2" >/dev/null; }
in_chain_of() { # content, nodes...
  local content=$1 n
  shift
  for n in "$@"; do chain_posts "$n" | grep -xF "$content" >/dev/null || return 1; done
}
not_in_chain_of() { ! in_chain_of "$@"; }
same_tip() { # nodes...
  local first n
  first=$(tip "$1") || return 1
  for n in "${@:2}"; do [ "$(tip "$n")" = "$first" ] || return 1; done
}
tips_differ() { [ "$(tip "$1")" != "$(tip "$2")" ]; }
height_is() { [ "$(height "$1")" = "$2" ]; }
resolved_on_tip() { # tip hash: resolve everywhere, then all nodes on it
  local n
  for n in 1 2 3; do node_get "$n" /nodes/resolve >/dev/null || return 1; done
  for n in 1 2 3; do [ "$(tip "$n")" = "$1" ] || return 1; done
}
every_post_once_everywhere() {
  local n content count
  for n in 1 2 3; do
    chain_posts "$n" >"$logs/chain$n" || return 1
    for content in "$@"; do
      count=$(grep -cxF "$content" "$logs/chain$n")
      if [ "$count" != 1 ]; then
        echo "node$n has '$content' $count times" >&2
        return 1
      fi
    done
  done
}
reaches_node3_from_node1() { docker exec "$(cid node1)" curl -fsS -m 3 -o /dev/null http://node3:8000/status 2>/dev/null; }
cut_off_from_node1() { ! reaches_node3_from_node1; }
mined() { # node, expected height: GET /mine says so
  local said
  said=$(mine "$1") && echo "   node$1: $said" && [ "$said" = "Block #$2 is mined." ]
}

# ---- the run ---------------------------------------------------------------------------------
if docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose_cmd=(docker-compose)
else
  echo "neither 'docker compose' nor 'docker-compose' is installed; installing docker-compose"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  compose_cmd=(docker-compose)
fi
command -v python3 >/dev/null || fail "python3 is needed to read the nodes' JSON"
step "compose e2e with '${compose_cmd[*]}' ($("${compose_cmd[@]}" version --short 2>/dev/null || echo '?')), project $project, difficulty $CHAINPOST_DIFFICULTY"
check "the Docker daemon answers (engine $(docker version -f '{{.Server.Version}}' 2>/dev/null))" quietly docker info

step "base images"
check "the Dockerfile's base images are present (built locally if missing)" bash scripts/docker-base-images.sh

step "building the image and starting the stack: ${compose_cmd[*]} -p $project up --build -d"
compose down -v --remove-orphans >/dev/null 2>&1 || true
brought_up=true
build_started=$SECONDS
if compose up --build -d >"$logs/up.log" 2>&1; then
  sed 's/\x1b\[[0-9;]*m//g' "$logs/up.log" | grep -E 'Finished|Successfully tagged|Built' | sort -u | sed 's/^ */   /'
  ok "up --build -d ($((SECONDS - build_started))s)"
else
  tail -n 40 "$logs/up.log" | sed 's/^/   /'
  fail "up --build -d"
fi
wait_until "node1-3 and the web app report healthy" 180 all_healthy
check "each node answers on its published port with difficulty $CHAINPOST_DIFFICULTY" difficulty_everywhere
check "the containers run as a non-root user" non_root
check "each node keeps its chain in its named volume at /data" data_in_named_volumes
wait_until "node2 and node3 joined node1 and each other (2 peers each)" 60 fully_peered
check "the web app serves its page and static assets on :$CHAINPOST_WEB_PORT" web_app_serves

run=$(date +%s)-$$
first="first post $run"
step "posting '$first' through the web app, mining on node2"
status=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' -X POST \
  --data-urlencode author=e2e --data-urlencode "content=$first" "$web/submit")
check "POST /submit redirects (303), the post accepted (got $status)" [ "$status" = 303 ]
wait_until "the post reached node2's mempool" 30 pending_on 2 "$first"
h=$(height 2)
check "node2 mined block #$((h + 1))" mined 2 $((h + 1))
h=$((h + 1))
wait_until "the post is in the chain of node1, node2 and node3" 30 in_chain_of "$first" 1 2 3
wait_until "all nodes share one tip at height $h" 30 same_tip 1 2 3
wait_until "the web app shows the mined post" 30 web_shows "$first"

network=$(docker inspect -f '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{"\n"}}{{end}}' "$(cid node3)" | head -n1)
step "partition: docker network disconnect $network node3"
check "node3 disconnected" quietly docker network disconnect "$network" "$(cid node3)"
partitioned=true
check "node1 cannot reach node3" cut_off_from_node1
majority="majority side $run"
step "node1 side: posting '$majority' on node1, mining on node1"
check "node1 accepted the post" post 1 "$majority"
check "node1 mined block #$((h + 1))" mined 1 $((h + 1))
wait_until "node2 follows node1 (same tip)" 30 same_tip 1 2
minority1="node3 alone one $run"
minority2="node3 alone two $run"
step "node3 side (docker exec): two posts, two blocks"
check "node3 accepted '$minority1'" post 3 "$minority1"
check "node3 mined block #$((h + 1))" mined 3 $((h + 1))
check "node3 accepted '$minority2'" post 3 "$minority2"
check "node3 mined block #$((h + 2))" mined 3 $((h + 2))
check "the two sides diverged (node1 and node3 tips differ)" tips_differ 1 3
check "node1 does not have node3's posts" not_in_chain_of "$minority1" 1
heavier=$(tip 3)

step "heal: docker network connect --alias node3 $network node3"
check "node3 reconnected" quietly docker network connect --alias node3 "$network" "$(cid node3)"
partitioned=false
wait_until "node1 reaches node3 by its service name again" 30 reaches_node3_from_node1
wait_until "node3's published port answers again" 30 height 3
step "consensus: GET /nodes/resolve on every node"
wait_until "every node switched to node3's heavier branch (tip ${heavier:0:16}, height $((h + 2)))" 60 resolved_on_tip "$heavier"
check "node1's abandoned post went back to its mempool" pending_on 1 "$majority"
step "final round: mining the returned post on node1"
check "node1 mined block #$((h + 3))" mined 1 $((h + 3))
wait_until "all nodes share one tip at height $((h + 3))" 30 same_tip 1 2 3
check "every post is in every node's chain exactly once" \
  every_post_once_everywhere "$first" "$majority" "$minority1" "$minority2"

final=$(tip 1)
step "restart: node2's chain survives in its volume"
check "node2 restarted" quietly compose restart node2
wait_until "node2 is back on tip ${final:0:16} after the restart" 60 bash -c \
  "[ \"\$(curl -fsS -m 5 http://127.0.0.1:$CHAINPOST_NODE2_PORT/status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"tip\"])')\" = $final ]"
wait_until "all four containers healthy again" 60 all_healthy
step "done in $((SECONDS - started))s"
