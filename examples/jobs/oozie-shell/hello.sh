#!/bin/sh
# Runs inside the Oozie launcher's YARN container. Prints key=value lines, which Oozie captures
# (<capture-output/>) for the workflow's next nodes.
set -eu
[ $# -eq 1 ] || { echo "usage: hello.sh GREETING" >&2; exit 2; }
echo "greeting=$1"
# Set by the NodeManager: proves the script ran in a YARN container, not on the Oozie host.
echo "container=${CONTAINER_ID:?not in a YARN container}"
