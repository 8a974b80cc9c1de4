#!/bin/sh
# Runs in the Oozie launcher's YARN container (shell action of workflow.xml). Submits a Flink batch
# job to YARN with the Flink distribution Oozie unpacked into ./flink, waits until its YARN
# application ends, and prints key=value lines on stdout for <capture-output/> (everything else
# goes to stderr: Oozie caps captured output at 2 KB).
# Usage: flink-batch.sh RM_WEB_URL APP_NAME MAIN_CLASS [JOB_ARG...]
# Files in the working directory: flink/ (archive), job.jar, flink-config.yaml.
# Environment (<env-var>): JAVA_HOME, HADOOP_CONF_DIR, HADOOP_CLASSPATH.
set -eu

fail() { echo "flink-batch.sh: $*" >&2; exit 1; }
[ $# -ge 3 ] || fail "usage: flink-batch.sh RM_WEB_URL APP_NAME MAIN_CLASS [JOB_ARG...]"
rm_web=$1 app_name=$2 main_class=$3
shift 3
[ -n "${JAVA_HOME:-}" ] || fail "JAVA_HOME is not set (an <env-var> of the action)"
[ -n "${HADOOP_CONF_DIR:-}" ] || fail "HADOOP_CONF_DIR is not set (an <env-var> of the action)"
[ -n "${HADOOP_CLASSPATH:-}" ] || fail "HADOOP_CLASSPATH is not set (an <env-var> of the action)"
[ -f job.jar ] || fail "no job.jar in $PWD (a <file> of the action)"

# The archive is unpacked as ./flink; Apache's tarballs hold one top directory (flink-V/).
FLINK_HOME=
for d in "$PWD/flink" "$PWD"/flink/*; do
  if [ -x "$d/bin/flink" ]; then FLINK_HOME=$d; break; fi
done
[ -n "$FLINK_HOME" ] || fail "no Flink distribution (bin/flink) under $PWD/flink: check the <archive>"

# A conf dir of our own: the shipped config, Flink's log4j files for the YARN containers, and the
# console logging for the CLI itself (its output lands in this container's stderr).
mkdir -p flink-conf flink-log
cp "$FLINK_HOME/conf/log4j.properties" flink-conf/
cp "$FLINK_HOME/conf/log4j-console.properties" flink-conf/log4j-cli.properties
if [ -f flink-config.yaml ]; then cp flink-config.yaml flink-conf/config.yaml
else cp "$FLINK_HOME/conf/config.yaml" flink-conf/config.yaml; fi

# Application mode: Flink 2.x has it as `run -t yarn-application` only; 1.x as `run-application`
# only (its `run -t yarn-application` fails with "No ExecutorFactory found").
case $(ls "$FLINK_HOME"/lib/flink-dist*.jar 2>/dev/null) in
  */flink-dist-1.*) action=run-application ;;
  */flink-dist*) action=run ;;
  *) fail "no lib/flink-dist*.jar in $FLINK_HOME: not a Flink distribution" ;;
esac

rc=0
FLINK_CONF_DIR=$PWD/flink-conf FLINK_LOG_DIR=$PWD/flink-log \
  "$FLINK_HOME/bin/flink" "$action" -t yarn-application -Dyarn.application.name="$app_name" \
  -c "$main_class" job.jar "$@" >flink-cli.log 2>&1 || rc=$?
cat flink-cli.log >&2
[ "$rc" -eq 0 ] || fail "flink run exited with $rc (its output is above)"
# YarnClientImpl's log line; other ids in the log (this launcher's own, in paths) do not count.
app=$(sed -n 's/.*Submitted application \(application_[0-9]*_[0-9]*\).*/\1/p' flink-cli.log | head -n 1)
[ -n "$app" ] || fail "flink run succeeded but printed no YARN application id"
echo "flink-batch.sh: submitted $app, waiting for it to end" >&2

# Batch semantics: the action ends when the job does, so the workflow's next node can rely on it.
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
