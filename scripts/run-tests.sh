#!/usr/bin/env bash
# Runs the whole suite with node's built-in test runner (TypeScript through tsx).
# Usage: scripts/run-tests.sh [unit|fuzz|integration|compat|all] [extra node --test args]
# The fuzz targets (seeded, a few seconds each) run with the unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-all}"
shift || true
case "$kind" in
  unit) dirs=(test/unit test/fuzz) ;;
  fuzz) dirs=(test/fuzz) ;;
  integration) dirs=(test/integration) ;;
  compat) dirs=(test/compat) ;;
  all) dirs=(test/unit test/fuzz test/integration test/compat) ;;
  *) echo "unknown test kind: $kind" >&2; exit 2 ;;
esac
files=()
for d in "${dirs[@]}"; do
  [ -d "$d" ] || continue
  while IFS= read -r f; do files+=("$f"); done < <(find "$d" -name '*.test.ts' | sort)
done
if [ ${#files[@]} -eq 0 ]; then echo "no test files found" >&2; exit 1; fi
# rtc-node logs at debug level unless NODE_ENV=production (its only effect on our stack), and its
# native side follows RUST_LOG; keep test output readable.
export RUST_LOG="${RUST_LOG:-warn}"
export NODE_ENV="${NODE_ENV:-production}"
exec node --import tsx --test --test-reporter=spec --test-timeout=180000 "$@" "${files[@]}"
