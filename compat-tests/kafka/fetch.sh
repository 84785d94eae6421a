#!/usr/bin/env bash
# Resolve Apache Kafka 4.4 (the reference broker) from Maven Central into
# compat-tests/.build/kafka-libs, keyed on this pom's content: a second run
# with the same pom does no network work at all.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="$HERE/../.build/kafka-libs"
MARKER="$OUT/.pom.sha256"
want="$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)"
if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$want" ]; then
    exit 0
fi
command -v mvn >/dev/null || { echo "compat-tests/kafka/fetch.sh: mvn is missing" >&2; exit 1; }
echo "== compat: Apache Kafka jars (mvn dependency:copy-dependencies)"
rm -rf "$OUT"
mkdir -p "$OUT"
mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" dependency:copy-dependencies -DoutputDirectory="$OUT"
ls "$OUT"/kafka_2.13-*.jar >/dev/null
echo "$want" > "$MARKER"
