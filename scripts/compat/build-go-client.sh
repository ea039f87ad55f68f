#!/usr/bin/env bash
# Builds the Go SDK compatibility client (test/compat/go, official github.com/livekit/server-sdk-go/v2)
# into .tools/compat/connector-compat-go. Cached: rebuilt only when go.mod, go.sum or a .go file
# changed. A cold build (module download + compile of the SDK) takes about a minute on 2 cores;
# it runs at the lowest CPU priority so parallel tests keep their pace.
# Usage: scripts/compat/build-go-client.sh   (prints the binary's path on success)
set -euo pipefail
cd "$(dirname "$0")/../.."

SRC="test/compat/go"
OUT_DIR=".tools/compat"
BIN="$OUT_DIR/connector-compat-go"
STAMP="$BIN.sha256"

if ! command -v go >/dev/null 2>&1; then
  echo "go is required for the Go SDK compatibility test (see README: Go >= 1.26)" >&2
  exit 1
fi

hash_sources() {
  (cd "$SRC" && cat go.mod go.sum $(ls ./*.go | sort)) | sha256sum | cut -d' ' -f1
}

want="$(hash_sources)"
if [ -x "$BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$OUT_DIR"
exec 9>"/tmp/whatsapp-connector-go-compat.lock"
flock 9
if [ -x "$BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "$BIN"
  exit 0
fi
(cd "$SRC" && nice -n 19 go build -mod=readonly -o "../../../$BIN.tmp" .) >&2
mv "$BIN.tmp" "$BIN"
echo "$want" >"$STAMP"
echo "$BIN"
