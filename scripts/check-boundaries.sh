#!/usr/bin/env bash
# CI's check of the crate boundaries ARCHITECTURE.md draws: the core stays pure, and the
# web app and research mode reach nodes only over HTTP, so none of the node's storage,
# search, OpenAPI, metrics or allocator comes into their builds.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
# Packages of `crate`'s normal (non-dev) dependency tree, one name per line.
tree_of() {
  cargo tree --locked -p "$1" -e normal --prefix none | awk '{print $1}' | sort -u
}
refuse() {
  local crate="$1"
  shift
  local found
  found="$(tree_of "$crate" | grep -Fx "${@/#/-e}" || true)"
  if [ -n "$found" ]; then
    echo "$crate depends on what it must not:" $found >&2
    status=1
  else
    echo "$crate: none of $*"
  fi
}

refuse chain serde serde_json tokio reqwest redb
refuse wire tokio reqwest redb utoipa node
refuse webapp node redb tantivy utoipa utoipa-axum prometheus-client mimalloc
refuse experiment node redb tantivy utoipa utoipa-axum prometheus-client mimalloc
exit "$status"
