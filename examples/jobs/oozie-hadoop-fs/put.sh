#!/bin/sh
# Runs inside the Oozie launcher's YARN container and uses `hadoop fs`, as PNDA's shell actions
# do (literary-word-count's download.sh: -rm, -mkdir -p, -copyFromLocal). On the loopback
# cluster `hadoop` is tests/env/hadoop, on the containers' PATH. Writes DIR/container.txt holding
# the id of the container it ran in, and lists / (to stderr: stdout is for <capture-output/>).
set -eu
[ $# -eq 1 ] || { echo "usage: put.sh HDFS_DIR" >&2; exit 2; }
echo "${CONTAINER_ID:?not in a YARN container}" >container.txt
hadoop fs -rm -r -f -skipTrash "$1" >&2
hadoop fs -mkdir -p "$1" >&2
hadoop fs -copyFromLocal container.txt "$1/container.txt" >&2
hadoop fs -ls / >&2
