#!/usr/bin/env bash
# Installs the official LiveKit Python server SDK (PyPI `livekit-api`, pinned) into the project-local
# virtualenv `.venv` used by the SDK compatibility tests. Idempotent: a second run with the pinned version
# already installed does nothing and returns at once.
# Usage: scripts/compat/install-python-client.sh   (prints the venv's python path on success)
set -euo pipefail
cd "$(dirname "$0")/../.."

LIVEKIT_API_VERSION="1.2.2"
VENV=".venv"
PY="$VENV/bin/python"
STAMP="$VENV/.livekit-api-$LIVEKIT_API_VERSION"

if [ -x "$PY" ] && [ -f "$STAMP" ]; then
  echo "$PY"
  exit 0
fi

# Only one installer at a time (parallel test files, or two developers' shells).
exec 9>"/tmp/whatsapp-connector-venv.lock"
flock 9
if [ -x "$PY" ] && [ -f "$STAMP" ]; then
  echo "$PY"
  exit 0
fi

python_bin="${PYTHON:-$(command -v python3 || true)}"
if [ -z "$python_bin" ]; then
  echo "python3 is required for the Python SDK compatibility test" >&2
  exit 1
fi
if [ ! -x "$PY" ]; then
  "$python_bin" -m venv "$VENV" >&2
fi
"$PY" -m pip install --quiet --disable-pip-version-check "livekit-api==$LIVEKIT_API_VERSION" >&2
rm -f "$VENV"/.livekit-api-*
touch "$STAMP"
echo "$PY"
