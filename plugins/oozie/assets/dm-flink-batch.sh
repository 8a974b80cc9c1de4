#!/bin/sh
# dm's Flink batch runner for Oozie (no SSH): runs in the Oozie launcher's YARN container as the
# shell action dm puts in place of PNDA's ssh action. Submits the Flink job to YARN with the Flink
# distribution Oozie unpacked into ./flink (an <archive> of the action), waits until its YARN
# application ends, and ends OK only if it FINISHED with final status SUCCEEDED, so the
# workflow's next node can rely on the job's output.
# Usage: dm-flink-batch.sh RM_WEB_URL FLINK_ARG...   (the arguments of `bin/flink`, e.g.
#        run -t yarn-application -c Main job.jar … on Flink 2, run-application -t yarn-application
#        … on 1.x; passed through as they are, never re-parsed)
# Files in the working directory: flink/ (the distribution), the job jar, and optionally
# flink-config.yaml (used instead of the distribution's config.yaml).
# Environment (<env-var>s of the action): JAVA_HOME, HADOOP_CONF_DIR, HADOOP_CLASSPATH.
# Prints flinkApplicationId=… and flinkFinalStatus=… for <capture-output/>; the rest goes to
# stderr (Oozie caps captured output at 2 KB).
set -eu

fail() { echo "dm-flink-batch.sh: $*" >&2; exit 1; }
[ $# -ge 2 ] || fail "usage: dm-flink-batch.sh RM_WEB_URL FLINK_ARG..."
rm_web=$1
shift
[ -n "${JAVA_HOME:-}" ] || fail "JAVA_HOME is not set (an <env-var> of the action)"
[ -n "${HADOOP_CONF_DIR:-}" ] || fail "HADOOP_CONF_DIR is not set (an <env-var> of the action)"
[ -n "${HADOOP_CLASSPATH:-}" ] || fail "HADOOP_CLASSPATH is not set (an <env-var> of the action)"

# Apache's tarballs hold one top directory (flink-V/); a repacked one may not.
FLINK_HOME=
for d in "$PWD/flink" "$PWD"/flink/*; do
  if [ -x "$d/bin/flink" ]; then FLINK_HOME=$d; break; fi
done
[ -n "$FLINK_HOME" ] || fail "no Flink distribution (bin/flink) under $PWD/flink: check the <archive>"

# The distribution's config (or flink-config.yaml, when the action ships one), with console
# logging for the CLI (its output goes to stderr here).
mkdir -p flink-conf flink-log
cp "$FLINK_HOME"/conf/* flink-conf/
cp "$FLINK_HOME/conf/log4j-console.properties" flink-conf/log4j-cli.properties
if [ -f flink-config.yaml ]; then cp flink-config.yaml flink-conf/config.yaml; fi

rc=0
FLINK_CONF_DIR=$PWD/flink-conf FLINK_LOG_DIR=$PWD/flink-log \
  "$FLINK_HOME/bin/flink" "$@" >flink-cli.log 2>&1 || rc=$?
cat flink-cli.log >&2
[ "$rc" -eq 0 ] || fail "flink exited with $rc (its output is above)"
# YARN's client logs "Submitted application application_…"; other ids in the log (the launcher's
# own, in its container paths) must not be taken for it.
app=$(sed -n 's/.*Submitted application \(application_[0-9]*_[0-9]*\).*/\1/p' flink-cli.log | head -n 1)
[ -n "$app" ] || fail "flink succeeded but logged no submitted YARN application"
echo "dm-flink-batch.sh: submitted $app, waiting for it to end" >&2

state= final=
while :; do
  report=$(curl -sf --max-time 10 "$rm_web/ws/v1/cluster/apps/$app") || report=
  state=$(printf '%s' "$report" | sed -n 's/.*"state":"\([A-Z_]*\)".*/\1/p')
  final=$(printf '%s' "$report" | sed -n 's/.*"finalStatus":"\([A-Z_]*\)".*/\1/p')
  case $state in FINISHED | FAILED | KILLED) break ;; esac
  sleep 3
done
echo "flinkApplicationId=$app"
echo "flinkFinalStatus=$final"
[ "$state" = FINISHED ] && [ "$final" = SUCCEEDED ] || fail "Flink application $app ended $state/$final"
