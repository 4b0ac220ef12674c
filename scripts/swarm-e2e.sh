#!/usr/bin/env bash
# End-to-end test of deploy/swarm/chainpost.yml on the local Docker engine (CI runs it):
#   1. `docker swarm init` (unless the engine is in a swarm already), the image built
#      locally, the stack deployed with 10 node replicas and the web app;
#   2. every replica finds every other through `tasks.node` alone, and all share one tip;
#   3. a post through the web app's form, mined through it, is in every replica's chain;
#   4. scaled to 15, the 5 new replicas find the others and sync the chain;
#   5. one task's container is removed: Swarm's replacement opens the same volume, rejoins
#      and is on the tip;
#   6. whatever happened: the stack, its volumes and (if this script made it) the swarm go.
#
# Nodes are reached with `docker exec` (the stack publishes only the web app, here on
# E2E_WEB_PORT, 15600). The last line it prints is `swarm-e2e: N passed, M failed`.
set -uo pipefail
# Pipes into grep read the whole input (grep >/dev/null, never grep -q): see compose-e2e.sh.
cd "$(dirname "$0")/.." || exit 1

stack=${E2E_STACK:-chainpost-e2e}
export CHAINPOST_DIFFICULTY=8
export CHAINPOST_SYNC_INTERVAL=2
export CHAINPOST_MINE=false
export CHAINPOST_WEB_PORT=${E2E_WEB_PORT:-15600}
export CHAINPOST_VOLUME_PREFIX=$stack-node
web=http://127.0.0.1:$CHAINPOST_WEB_PORT

passed=0
failed=0
started=$SECONDS
made_swarm=false
deployed=false

# shellcheck source=scripts/e2e-checks.sh
source scripts/e2e-checks.sh

finish() {
  local status=$?
  trap - EXIT INT TERM
  count_unexpected_exit "$status"
  if $deployed; then
    if [ "$failed" -ne 0 ]; then
      echo "== tasks and the last log lines of each service"
      docker stack ps --no-trunc "$stack" 2>&1 | head -n 40 | sed 's/^/   /' || true
      for service in node web; do
        docker service logs --tail 20 "${stack}_$service" 2>&1 | sed 's/^/   /' || true
      done
    fi
    step "removing the stack and its volumes"
    docker stack rm "$stack" >/dev/null 2>&1 || true
    # The stack's containers go in the background; the volumes can go once they have.
    for _ in $(seq 1 60); do
      [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack")" ] && break
      sleep 1
    done
    docker network rm "${stack}_chain" >/dev/null 2>&1 || true
    local volumes
    volumes=$(docker volume ls -q --filter "name=^$CHAINPOST_VOLUME_PREFIX-")
    # shellcheck disable=SC2086 # one name a word
    [ -z "$volumes" ] || docker volume rm $volumes >/dev/null 2>&1 || true
  fi
  if $made_swarm; then
    step "leaving the swarm this test made"
    docker swarm leave --force >/dev/null 2>&1 || true
    # Made by `swarm init` for the tasks' published ports; nothing else uses it.
    docker network rm docker_gwbridge >/dev/null 2>&1 || true
  fi
  echo "swarm-e2e: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && exit 0 || exit 1
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---- the node replicas -----------------------------------------------------------------------
# Running node containers of the stack, one id a line.
nodes() { docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_node"; }
node_count() { nodes | wc -l; }
node_get() { docker exec "$1" curl -fsS -m 10 "http://127.0.0.1:8000$2"; }
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
tip_of() { node_get "$1" /status | json_field tip; }
peer_count() { node_get "$1" /peers | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'; }
slot_of() {
  docker inspect -f '{{index .Config.Labels "com.docker.swarm.task.name"}}' "$1" | cut -d. -f2
}

# `want` node containers running, each answering /status.
replicas_up() {
  local want=$1
  [ "$(node_count)" -eq "$want" ] || return 1
  for c in $(nodes); do node_get "$c" /status >/dev/null || return 1; done
}
# Every running replica peers with at least `want` others.
all_peered() {
  local want=$1
  for c in $(nodes); do [ "$(peer_count "$c")" -ge "$want" ] || return 1; done
}
# Every running replica is on one tip; prints it.
one_tip() {
  local tips
  tips=$(for c in $(nodes); do tip_of "$c" || echo unreachable; done | sort -u)
  [ "$(printf '%s\n' "$tips" | wc -l)" -eq 1 ] && [ "$tips" != unreachable ] && echo "$tips"
}
# Every running replica's best chain holds the post `content`.
post_everywhere() {
  local content=$1
  for c in $(nodes); do node_get "$c" /chain | grep -F "$content" >/dev/null || return 1; done
}

# ---- the run ---------------------------------------------------------------------------------
step "swarm"
case "$(docker info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null)" in
  active) ok "the engine is already in a swarm; using it and leaving it as it is" ;;
  inactive)
    check "docker swarm init" quietly docker swarm init --advertise-addr 127.0.0.1
    made_swarm=true ;;
  *) fail "the Docker engine is not reachable or its swarm is in an odd state" ;;
esac

step "image"
check "the Dockerfile's base images are present (built locally if missing)" \
  quietly bash scripts/docker-base-images.sh
check "docker build -t chainpost:latest" quietly docker build -q -t chainpost:latest .

step "deploy: 10 node replicas and the web app"
export CHAINPOST_REPLICAS=10
deployed=true
check "docker stack deploy" \
  quietly docker stack deploy --detach=true -c deploy/swarm/chainpost.yml "$stack"
wait_until "10 node replicas are up" 180 replicas_up 10
wait_until "every replica found the 9 others through tasks.node" 120 all_peered 9
wait_until "all 10 are on one tip" 60 one_tip
volumes=$(docker volume ls -q --filter "name=^$CHAINPOST_VOLUME_PREFIX-" | wc -l)
check "each replica has a volume of its own ($volumes)" [ "$volumes" -eq 10 ]

step "a post through the web app reaches every replica"
# The home page says "Node unavailable" (a 200) when the web app cannot reach a node.
web_reads_a_node() {
  local page
  page=$(curl -fsS "$web/") || return 1
  ! printf '%s' "$page" | grep 'Node unavailable' >/dev/null &&
    printf '%s' "$page" | grep -E 'blocks? known' >/dev/null
}
wait_until "the web app answers on $web and reads a node" 120 web_reads_a_node
content="hello from the swarm $$"
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$web/submit" \
  --data-urlencode 'author=swarm' --data-urlencode "content=$content")
check "the web app accepts the post (answered $status)" [ "$status" = 303 ]
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$web/mine")
check "the web app asks a node to mine (answered $status)" [ "$status" = 303 ]
wait_until "the post is in every replica's chain" 120 post_everywhere "$content"
tip=$(one_tip)
check "all 10 share the tip ${tip:0:16}" [ -n "$tip" ]

step "scale to 15: the new replicas find the others and sync"
check "docker service scale ${stack}_node=15" \
  quietly docker service scale --detach=true "${stack}_node=15"
wait_until "15 node replicas are up" 180 replicas_up 15
wait_until "all 15 have the post" 120 post_everywhere "$content"
wait_until "every replica peers with at least 10 others" 120 all_peered 10
check "all 15 are on the tip" [ "$(one_tip)" = "$tip" ]

step "one task fails: Swarm replaces it, and the replacement rejoins on its own volume"
victim=$(nodes | head -n 1)
slot=$(slot_of "$victim")
check "removed the container of slot $slot" quietly docker rm -f "$victim"
replaced() {
  local c
  for c in $(nodes); do
    [ "$c" != "${victim:0:12}" ] && [ "$(slot_of "$c")" = "$slot" ] && echo "$c" && return 0
  done
  return 1
}
wait_until "Swarm started a new task in slot $slot" 120 replaced
replacement=$(replaced)
mounted=$(docker inspect -f '{{range .Mounts}}{{.Name}}{{end}}' "$replacement")
check "the replacement opened the slot's volume ($mounted)" \
  [ "$mounted" = "$CHAINPOST_VOLUME_PREFIX-$slot" ]
wait_until "15 node replicas are up again" 120 replicas_up 15
replacement_on_tip() { [ "$(tip_of "$replacement")" = "$tip" ] && [ "$(peer_count "$replacement")" -ge 1 ]; }
wait_until "the replacement is on the tip and has peers" 120 replacement_on_tip
check "every replica still has the post" post_everywhere "$content"

step "done in $((SECONDS - started))s"
