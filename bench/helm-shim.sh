#!/usr/bin/env bash
# HELM_BIN for the probe deletion: records each helm invocation (one line: its arguments), then runs the real helm.
printf '%s\n' "$*" >> "$BENCH_HELM_LOG"
exec "$BENCH_REAL_HELM" "$@"
