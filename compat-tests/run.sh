#!/usr/bin/env bash
# Compatibility suite: real third-party Kafka clients against the release
# binary. Installs what it needs (idempotently; a second run installs
# nothing), builds the broker, then runs pytest with any arguments given:
#   compat-tests/run.sh                 # everything
#   compat-tests/run.sh -k kcat         # one client
#   compat-tests/run.sh tests/test_raw_protocol.py -x
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
BUILD="$HERE/.build"
mkdir -p "$BUILD"
export PIP_DISABLE_PIP_VERSION_CHECK=1

step() { echo "== compat: $*"; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# --- Debian packages -------------------------------------------------------
# kcat (librdkafka 2.0.2), Go + sarama 1.22.1 sources for an offline build,
# a JDK for the Java client, libfuse 2 for the failing-disk test (fusepy),
# libfaketime for the clock-skew test;
# node/npm and python3-venv only if absent.
need_pkgs=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in kcat golang-go golang-github-shopify-sarama-dev libfuse2 faketime; do
    have_pkg "$p" || need_pkgs+=("$p")
done
command -v javac >/dev/null || need_pkgs+=(default-jdk-headless)
command -v mvn >/dev/null || need_pkgs+=(maven)
command -v node >/dev/null || need_pkgs+=(nodejs)
command -v npm >/dev/null || need_pkgs+=(npm)
python3 -c 'import ensurepip, venv' 2>/dev/null || need_pkgs+=(python3-venv)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    step "apt-get install ${need_pkgs[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# --- Python venv -----------------------------------------------------------
VENV="$HERE/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    step "python venv"
    python3 -m venv "$VENV"
fi
if ! cmp -s "$HERE/requirements.txt" "$VENV/.requirements.installed"; then
    step "pip install -r requirements.txt"
    "$VENV/bin/pip" install -q -r "$HERE/requirements.txt"
    cp "$HERE/requirements.txt" "$VENV/.requirements.installed"
fi

# --- kafkajs ---------------------------------------------------------------
if ! cmp -s "$HERE/node/package-lock.json" "$HERE/node/node_modules/.package-lock.json.installed"; then
    step "npm ci (kafkajs)"
    (cd "$HERE/node" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$HERE/node/package-lock.json" "$HERE/node/node_modules/.package-lock.json.installed"
fi

# --- Java kafka-clients jars -----------------------------------------------
# Apache kafka-clients 3.9.1 and its codec jars ship in this PyPI wheel.
JARS="$BUILD/jars"
WHEEL_REQ="shigawire-apache-flink-libraries==2.0.0.post1"
JAR_NAMES="kafka-clients lz4-java snappy-java zstd-jni slf4j-api"
if [ ! -f "$JARS/.complete" ]; then
    step "kafka-clients jars from $WHEEL_REQ"
    tmp="$(mktemp -d)"
    "$VENV/bin/pip" download -q --no-deps "$WHEEL_REQ" -d "$tmp"
    mkdir -p "$JARS"
    "$VENV/bin/python" - "$tmp"/*.whl "$JARS" $JAR_NAMES <<'PY'
import sys, zipfile, pathlib
wheel, out, names = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for n in names:
        (out / f"{n}.jar").write_bytes(z.read(f"pyflink/lib/{n}.jar"))
PY
    rm -rf "$tmp"
    touch "$JARS/.complete"
fi

# --- Apache Kafka 4.4, the reference broker (harness/kafka.py) ---------------
# Jars from Maven Central, keyed on kafka/pom.xml (a second run fetches nothing).
"$HERE/kafka/fetch.sh"

# --- the broker --------------------------------------------------------------
# ODRADEK_SKIP_BUILD=1: use the binary already there (or $ODRADEK_BIN).
if [ "${ODRADEK_SKIP_BUILD:-}" = 1 ]; then
    step "cargo build skipped (ODRADEK_SKIP_BUILD=1)"
else
    step "cargo build --release"
    (cd "$ROOT" && cargo build --release --locked --quiet)
fi

# --- the suite ---------------------------------------------------------------
# (go build and javac of the client programs run inside pytest, once per session)
step "pytest $*"
cd "$HERE"
set +e
"$VENV/bin/python" -m pytest "$@"
code=$?
set -e
# The compatibility matrix of this run (.build/compat-matrix.json), summed up.
if [ -f "$BUILD/compat-matrix.json" ]; then
    "$VENV/bin/python" "$HERE/render_matrix.py" --summary "$BUILD/compat-matrix.json" || true
fi
if [ "$code" = 5 ]; then
    echo "compat-tests: pytest collected no tests: failing" >&2
    exit 1
fi
exit "$code"
