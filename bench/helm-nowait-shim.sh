#!/usr/bin/env bash
# EXPERIMENT ONLY (BENCH_BULK_ARMS=nowait<N>): HELM_BIN that drops `--wait` and `--cascade foreground`
# from `helm uninstall`, to show what custctl would take with helm's default (background) cascade;
# the namespace delete + watch to 404 that follows still waits for every namespaced object.
args=()
skip=0
for a in "$@"; do
  if [ $skip = 1 ]; then skip=0; continue; fi
  case "$a" in
    --wait|--wait=true|--wait=watcher) ;;
    --cascade) skip=1 ;;
    --cascade=*) ;;
    *) args+=("$a") ;;
  esac
done
exec "$BENCH_REAL_HELM" "${args[@]}"
