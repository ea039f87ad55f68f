#!/usr/bin/env bash
# Builds the Rust SDK compatibility client (test/compat/rust, official `livekit-api` crate, pinned in
# Cargo.toml/Cargo.lock) into .tools/compat/connector-compat-rust. Cached: rebuilt only when
# Cargo.toml, Cargo.lock or a source file changed. A cold build (crate download + compile) takes
# about 2-3 minutes on 2 cores; it runs at the lowest CPU priority so parallel tests keep their pace.
# Usage: scripts/compat/build-rust-client.sh   (prints the binary's path on success)
set -euo pipefail
cd "$(dirname "$0")/../.."

SRC="test/compat/rust"
OUT_DIR=".tools/compat"
BIN="$OUT_DIR/connector-compat-rust"
STAMP="$BIN.sha256"

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required for the Rust SDK compatibility test" >&2
  exit 1
fi

hash_sources() {
  (cd "$SRC" && cat Cargo.toml Cargo.lock $(find src -name '*.rs' | sort)) | sha256sum | cut -d' ' -f1
}

want="$(hash_sources)"
if [ -x "$BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$OUT_DIR"
exec 9>"/tmp/whatsapp-connector-rust-compat.lock"
flock 9
if [ -x "$BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "$BIN"
  exit 0
fi
target="$PWD/$OUT_DIR/rust-target"
(cd "$SRC" && CARGO_TARGET_DIR="$target" nice -n 19 cargo build --locked --quiet) >&2
cp "$target/debug/connector-compat-rust" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
echo "$want" >"$STAMP"
echo "$BIN"
