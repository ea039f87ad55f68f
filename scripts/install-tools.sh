#!/usr/bin/env bash
# Installs everything the test bed, `make dev` and `make bench` need, reusing what is present:
#   - livekit-server (pinned) built with `go install` into .tools/bin (git-ignored)
#   - redis-server and chromium from Debian when missing
# Usage: scripts/install-tools.sh [livekit|redis|chromium|all]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."

LIVEKIT_VERSION="${LIVEKIT_SERVER_VERSION:-v1.13.5}"
TOOLS_BIN="$PWD/.tools/bin"
what="${1:-all}"

log() { echo "[install-tools] $*" >&2; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_livekit() {
  local marker="$TOOLS_BIN/livekit-server.version"
  if [ -x "$TOOLS_BIN/livekit-server" ] && [ "$(cat "$marker" 2>/dev/null)" = "$LIVEKIT_VERSION" ]; then
    return 0
  fi
  command -v go >/dev/null || { log "go is required to build livekit-server"; exit 1; }
  mkdir -p "$TOOLS_BIN"
  local tmp
  tmp="$(mktemp -d)"
  for v in "$LIVEKIT_VERSION" v1.13.4 v1.13.2; do
    log "building livekit-server $v with go install (first time only; a few minutes)"
    if GOBIN="$tmp" go install "github.com/livekit/livekit-server/cmd/server@$v"; then
      mv "$tmp/server" "$TOOLS_BIN/livekit-server"
      echo "$LIVEKIT_VERSION" >"$marker"
      [ "$v" = "$LIVEKIT_VERSION" ] || log "WARNING: fell back to livekit-server $v"
      rm -rf "$tmp"
      return 0
    fi
  done
  log "could not build livekit-server"
  exit 1
}

install_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
}

install_chromium() {
  command -v chromium >/dev/null || apt_install chromium
}

case "$what" in
  livekit) install_livekit ;;
  redis) install_redis ;;
  chromium) install_chromium ;;
  all) install_livekit; install_redis; install_chromium ;;
  *) log "unknown tool: $what"; exit 2 ;;
esac
