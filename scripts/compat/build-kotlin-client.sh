#!/usr/bin/env bash
# Builds the Kotlin/JVM SDK compatibility client (test/compat/kotlin: a Java program using the official
# io.livekit:livekit-server ConnectorServiceClient, pinned in pom.xml) with Maven into
# .tools/compat/kotlin-target, and writes its runtime classpath to .tools/compat/kotlin-classpath.txt.
# Cached: rebuilt only when pom.xml or a source file changed. Cold: about 30 s (Maven Central
# downloads); runs at the lowest CPU priority so parallel tests keep their pace.
# Usage: scripts/compat/build-kotlin-client.sh   (prints the java classpath on success)
set -euo pipefail
cd "$(dirname "$0")/../.."

SRC="test/compat/kotlin"
OUT_DIR=".tools/compat"
CLASSES="$OUT_DIR/kotlin-target/classes"
CP_FILE="$OUT_DIR/kotlin-classpath.txt"
STAMP="$OUT_DIR/kotlin-client.sha256"

for tool in mvn java; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$tool is required for the Kotlin SDK compatibility test" >&2
    exit 1
  fi
done

hash_sources() {
  (cd "$SRC" && cat pom.xml $(find src -name '*.java' | sort)) | sha256sum | cut -d' ' -f1
}

classpath() {
  echo "$PWD/$CLASSES:$(cat "$CP_FILE")"
}

want="$(hash_sources)"
if [ -d "$CLASSES" ] && [ -f "$CP_FILE" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  classpath
  exit 0
fi

mkdir -p "$OUT_DIR"
exec 9>"/tmp/whatsapp-connector-kotlin-compat.lock"
flock 9
if [ -d "$CLASSES" ] && [ -f "$CP_FILE" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  classpath
  exit 0
fi
nice -n 19 mvn -q -B -f "$SRC/pom.xml" clean compile dependency:build-classpath \
  -Dmdep.outputFile="$PWD/$CP_FILE" >&2
echo "$want" >"$STAMP"
classpath
