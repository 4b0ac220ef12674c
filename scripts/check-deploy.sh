#!/usr/bin/env bash
# CI's check of the deployment manifests under deploy/kubernetes: strict validation against
# the Kubernetes API schema (kubernetes-validate, from PyPI; no cluster is needed), a proof
# that the validator refuses what it should, and that every CHAINPOST_* and WEBAPP_*
# variable the manifests set is one the binaries read.
set -euo pipefail
cd "$(dirname "$0")/.."

kubernetes_version=1.37.0
validator_version=1.37.0
if ! kubernetes-validate --version 2>/dev/null | grep -Fx "$validator_version" >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    "kubernetes-validate==$validator_version"
fi
validate() { kubernetes-validate --strict --quiet -k "$kubernetes_version" "$@"; }

status=0
if validate deploy/kubernetes/*.yaml; then
  echo "deploy/kubernetes: valid against Kubernetes $kubernetes_version (strict)"
else
  status=1
fi

# A field the schema does not have must fail: strict mode is really on.
broken=$(mktemp --suffix=.yaml)
trap 'rm -f "$broken"' EXIT
sed 's/^  serviceName: chainpost-nodes$/  serviceName: chainpost-nodes\n  replica: 3/' \
  deploy/kubernetes/chainpost.yaml >"$broken"
if validate "$broken" >/dev/null 2>&1; then
  echo "the validator accepted a StatefulSet with an unknown field" >&2
  status=1
fi

for name in $(grep -ohE '\b(CHAINPOST|WEBAPP)_[A-Z_]+' deploy/kubernetes/*.yaml | sort -u); do
  if ! grep -rF "env = \"$name\"" node/src webapp/src >/dev/null; then
    echo "deploy/kubernetes sets $name, which neither binary reads" >&2
    status=1
  fi
done
exit "$status"
