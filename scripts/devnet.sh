#!/usr/bin/env bash
# Builds chainpost and runs a local network on this machine: N peered nodes, each with
# its own data directory, and the web app on http://localhost:5000 connected to all of
# them. Ctrl-C stops everything. No Docker needed.
#
#   scripts/devnet.sh [--nodes N] [--difficulty BITS] [--mine] [--fresh]
#                     [--base-port 8000] [--web-port 5000] [--data DIR] [--debug]
set -euo pipefail
cd "$(dirname "$0")/.."

nodes=3
difficulty=16
mine=false
fresh=false
base_port=8000
web_port=5000
data=./data/devnet
profile=release

while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes="$2"; shift 2 ;;
    --difficulty) difficulty="$2"; shift 2 ;;
    --mine) mine=true; shift ;;
    --fresh) fresh=true; shift ;;
    --base-port) base_port="$2"; shift 2 ;;
    --web-port) web_port="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --debug) profile=debug; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$nodes" in ''|*[!0-9]*) echo "--nodes needs a number" >&2; exit 2 ;; esac
[ "$nodes" -ge 1 ] || { echo "--nodes must be at least 1" >&2; exit 2; }

echo "building ($profile)..."
if [ "$profile" = release ]; then
  cargo build --release --quiet -p node -p webapp
else
  cargo build --quiet -p node -p webapp
fi
bin=./target/$profile

$fresh && rm -rf "$data"
mkdir -p "$data"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping..."
  [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  echo "stopped; data kept in $data (use --fresh to start over)"
}
trap stop INT TERM EXIT

# Waits until something accepts connections on the port, or its process dies.
wait_for_port() {
  local port=$1 pid=$2
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

node_urls=()
for i in $(seq 0 $((nodes - 1))); do
  port=$((base_port + i))
  args=(--port "$port" --difficulty "$difficulty" --data-dir "$data/node-$port")
  [ "$i" -gt 0 ] && args+=(--peer "http://127.0.0.1:$base_port")
  $mine && args+=(--mine)
  "$bin/node" "${args[@]}" >"$data/node-$port.log" 2>&1 &
  pids+=($!)
  if wait_for_port "$port" "$!"; then
    echo "node $((i + 1)) up:  http://127.0.0.1:$port   (log: $data/node-$port.log)"
  else
    echo "node $((i + 1)) failed to start; see $data/node-$port.log" >&2
    exit 1
  fi
  node_urls+=(--node "http://127.0.0.1:$port")
done

"$bin/webapp" --port "$web_port" "${node_urls[@]}" >"$data/webapp.log" 2>&1 &
pids+=($!)
if wait_for_port "$web_port" "$!"; then
  echo "web app up: http://localhost:$web_port   (log: $data/webapp.log)"
else
  echo "the web app failed to start; see $data/webapp.log" >&2
  exit 1
fi
echo "difficulty $difficulty bits; $($mine && echo 'every node mines pending posts' || echo 'mine with the web app or GET /mine')"
echo "Ctrl-C stops everything."
wait
