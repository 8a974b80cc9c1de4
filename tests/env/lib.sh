# Shared by tests/env/{up,down,status}: paths, versions, ports and pid helpers. Sourced, not run.
# Everything lives under target/testenv/ (ignored by git); downloads go to pip's and Maven's own caches.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TE="$ROOT/target/testenv"
LOGS="$TE/logs"
PIDS="$TE/pids"

# Flink versions side by side, one venv each (the wheels all install as the same `pyflink`
# package). The first is the default. Each gets its own conf dir, HistoryServer and archive dir.
read -r -a FLINK_VERSIONS <<<"${DM_TESTENV_FLINK_VERSIONS:-2.3.0 1.20.5}"
FLINK_VERSION=${FLINK_VERSIONS[0]}
SPARK_VERSION=4.3.0
PY4J_VERSION=0.10.9.9
OOZIE_VERSION=5.2.1       # keep equal to tests/env/oozie/pom.xml
HADOOP_VERSION=3.5.0      # keep equal to pyspark's bundled hadoop-client jars and tests/env/minicluster/pom.xml

# Fixed loopback ports (override with the environment if one is taken).
NN_RPC_PORT=${DM_TESTENV_NN_RPC_PORT:-8020}
NN_HTTP_PORT=${DM_TESTENV_NN_HTTP_PORT:-9870}
RM_PORT=${DM_TESTENV_RM_PORT:-8032}
RM_WEB_PORT=${DM_TESTENV_RM_WEB_PORT:-8088}
FLINK_HS_PORT=${DM_TESTENV_FLINK_HS_PORT:-8082}   # the first Flink version's; the next ones count up
SPARK_HS_PORT=${DM_TESTENV_SPARK_HS_PORT:-18080}
OOZIE_PORT=${DM_TESTENV_OOZIE_PORT:-11000}

HADOOP_CONF_DIR="$TE/hadoop-conf"
PYVER="$(python3 -c 'import sys; print("python%d.%d" % sys.version_info[:2])')"
SPARK_VENV="$TE/venv-spark"
SPARK_HOME="$SPARK_VENV/lib/$PYVER/site-packages/pyspark"
SPARK_CONF_DIR="$TE/spark/conf"
flink_venv() { echo "$TE/venv-flink-$1"; }
flink_home() { echo "$TE/venv-flink-$1/lib/$PYVER/site-packages/pyflink"; }
flink_conf_dir() { echo "$TE/flink-$1/conf"; }
flink_hs_port() { # flink_hs_port VERSION
  local i
  for i in "${!FLINK_VERSIONS[@]}"; do
    [ "${FLINK_VERSIONS[$i]}" = "$1" ] && { echo $((FLINK_HS_PORT + i)); return; }
  done
  return 1
}

if [ -z "${JAVA_HOME:-}" ] && command -v java >/dev/null; then
  JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
fi
export JAVA_HOME="${JAVA_HOME:-}"

# Hadoop on Java 17: reflective access that the JDK no longer grants by default.
JAVA17_OPENS=(
  --add-opens=java.base/java.lang=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/sun.security.action=ALL-UNNAMED
  --add-opens=java.base/jdk.internal.misc=ALL-UNNAMED
)

log() { printf '%s [testenv] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# pid_alive NAME: true if $PIDS/NAME.pid names a live process.
pid_alive() {
  local f="$PIDS/$1.pid"
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# wait_http URL SECONDS: poll until the URL answers 2xx.
wait_http() {
  local url=$1 secs=$2 i
  for ((i = 0; i < secs * 2; i++)); do
    curl -sf -o /dev/null --max-time 2 "$url" && return 0
    sleep 0.5
  done
  return 1
}
