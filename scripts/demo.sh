#!/usr/bin/env bash
# The newcomer's first run: a customer deleted end to end on the embedded defaults
# (embedded PostgreSQL in a throwaway state directory, cluster steps simulated).
set -euo pipefail
cd "$(dirname "$0")/.."
export CUSTCTL_STATE_DIR="${CUSTCTL_STATE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/custctl-demo.XXXXXX")}"
export CUSTCTL_STORE=embedded SIMULATE_K8S_DEPLOYMENT=true
id="cust_demo$(date +%s)"
run() { printf '\n$ %s\n' "$*" >&2; "$@"; }
run ./bin/custctl.js customers add "$id" --email ops@example.com --company "Demo Corp"
run ./bin/custctl.js delete "$id" --dry-run
run ./bin/custctl.js delete "$id" --yes
run ./bin/custctl.js status customer "$id"
run ./bin/custctl.js status job "$(./bin/custctl.js jobs list --customer "$id" -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).at(-1).id))')"
printf '\nState kept in %s (CUSTCTL_STATE_DIR).\n' "$CUSTCTL_STATE_DIR" >&2
