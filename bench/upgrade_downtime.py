#!/usr/bin/env python3
"""Benchmark: downtime of an upgrade of a Flink streaming job on YARN through dm, against the same
upgrade by hand (`flink stop --savepointPath` then `flink run -s`), in the same run, on the
loopback cluster (tests/env/up first).

"Processing" is observed the same way for both: the job (examples/jobs/flink-java StreamingJob)
prints a running count per key for every record, to its TaskManager's `taskmanager.out` in the
NodeManager's log folder (on this machine). A thread polls the size of those files every
--poll-ms; downtime = last time v1's output grew → first time v2's output grew. v2's first count
is compared with v1's last one for the same key, to show the state carried over.

One dmd application and one hand-run job run side by side, started once on v1; each round
upgrades both to the next package version (same jar), alternating which goes first:
- dmd: `POST /applications/{a}/upgrade {"package": next, "mode": "savepoint", "upgrade_ready_sec": 1}`;
- by hand: `flink stop --savepointPath DIR -t yarn-application -Dyarn.application.id=ID JOB`,
  then `flink run -t yarn-application -s SAVEPOINT` (`run-application` on Flink 1.x) of the same jar
  and arguments.
Prints every round, the medians and the ratio dmd / by hand. Cleans up: the application
destroyed, stray YARN applications of this run killed, its savepoints deleted from HDFS.

Usage: bench/upgrade_downtime.py --bin-dir target/release [--rounds 3] [--flink-version V]
"""
import argparse
import glob
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATE = 20  # records per second: one every 50 ms, so the output grows between two polls


def http(method, url, body=None, content_type="application/json", raw=False):
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            data = r.read()
            return r.status, data if raw else json.loads(data or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
    except urllib.error.URLError:
        return 0, None


def wait(what, seconds, check, interval=0.2):
    """check() until truthy within `seconds`; else exits saying what was awaited and last seen."""
    deadline = time.time() + seconds
    seen = None
    while time.time() < deadline:
        ok, seen = check()
        if ok:
            return seen
        time.sleep(interval)
    sys.exit(f"timed out after {seconds} s waiting for {what}; last seen: {seen}")


def yarn_apps(rm, query):
    _, body = http("GET", f"{rm}/ws/v1/cluster/apps?{query}")
    return ((body or {}).get("apps") or {}).get("app", [])


def running_job(rm, app_id):
    """The Flink job id of YARN application `app_id` if RUNNING with all tasks running."""
    _, jobs = http("GET", f"{rm}/proxy/{app_id}/jobs/overview")
    for job in (jobs or {}).get("jobs", []):
        if job["state"] == "RUNNING" and job["tasks"]["running"] == job["tasks"]["total"]:
            return job["jid"]
    return None


def nm_log_dirs(rm):
    """The NodeManagers' container log folders, from each NM's effective configuration."""
    _, body = http("GET", f"{rm}/ws/v1/cluster/nodes")
    dirs = []
    for node in body["nodes"]["node"]:
        _, conf = http("GET", f"http://{node['nodeHTTPAddress']}/conf", raw=True)
        m = re.search(rb"<name>yarn.nodemanager.log-dirs</name><value>([^<]*)", conf or b"")
        if m:
            dirs += m.group(1).decode().split(",")
    if not dirs or not all(os.path.isdir(d) for d in dirs):
        sys.exit(f"NodeManager log folders not found on this machine: {dirs}")
    return dirs


class Output:
    """Polls the size of every new YARN application's taskmanager.out; per application: when its
    output first grew and last grew, and its first and last bytes then."""

    def __init__(self, log_dirs, poll_s):
        self.log_dirs, self.poll_s = log_dirs, poll_s
        self.known = {}  # app id -> {"size", "first", "last", "head", "tail"}
        self.ignored = set(self._apps())
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _apps(self):
        for d in self.log_dirs:
            for name in os.listdir(d):
                if name.startswith("application_"):
                    yield name

    def _files(self, app):
        return [f for d in self.log_dirs for f in glob.glob(os.path.join(d, app, "*", "taskmanager.out"))]

    def _run(self):
        while not self.stopped.is_set():
            now = time.time()
            for app in set(self._apps()) - self.ignored:
                files = self._files(app)
                size = sum(os.path.getsize(f) for f in files if os.path.exists(f))
                with self.lock:
                    seen = self.known.setdefault(app, {"size": 0, "first": None, "last": None, "head": "", "tail": ""})
                    if size > seen["size"]:
                        tail = "".join(read_end(f) for f in files)
                        if seen["first"] is None:
                            seen["first"], seen["head"] = now, "".join(read_start(f) for f in files)
                        seen["last"], seen["size"], seen["tail"] = now, size, tail
            self.stopped.wait(self.poll_s)

    def get(self, app):
        with self.lock:
            return dict(self.known.get(app) or {})

    def close(self):
        self.stopped.set()
        self.thread.join()


def read_start(path, n=512):
    with open(path, "rb") as f:
        return f.read(n).decode(errors="replace")


def read_end(path, n=512):
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - n))
        return f.read().decode(errors="replace")


COUNT = re.compile(r"\((key-\d+),(\d+)\)")


def continuity(old_tail, new_head):
    """v2's first count of a key minus v1's last count of the same key: 1 when the state carried
    over exactly, ≤ 0 or large when records were replayed, lost or the state reset."""
    last = {k: int(n) for k, n in COUNT.findall(old_tail)}
    first = COUNT.findall(new_head)
    if not first or first[0][0] not in last:
        return None
    key, n = first[0]
    return int(n) - last[key]


def hdfs_delete(namenode_http, path, user):
    http("DELETE", f"{namenode_http}/webhdfs/v1{path}?op=DELETE&recursive=true&user.name={user}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True, help="where dmd, dm-supervisor and the plugins are built")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flink-version", help="a version of env.json (default: the env's default)")
    parser.add_argument("--poll-ms", type=int, default=50)
    args = parser.parse_args()
    bins = os.path.abspath(args.bin_dir)
    env = json.load(open(os.path.join(ROOT, "target", "testenv", "env.json")))
    version = args.flink_version or env["flink_default_version"]
    flink = env["flink"][version]
    rm, nn_http = env["rm_url"], env["namenode_http_url"]
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    pid = os.getpid()
    # Every savepoint of this run, dmd's and the hand-run ones, under one folder deleted at the end.
    sp_path = f"/flink/bench-upgrade-{pid}"
    sp_root = f"{env['namenode_url']}{sp_path}"
    client_env = dict(os.environ, JAVA_HOME=env["java_home"], HADOOP_CONF_DIR=env["hadoop_conf_dir"],
                      HADOOP_CLASSPATH=env["hadoop_classpath"], FLINK_CONF_DIR=flink["conf_dir"])
    flink_bin = os.path.join(flink["home"], "bin", "flink")
    jar, cls = flink["jobs_jar"], env["jobs"]["flink_streaming_class"]
    app = f"upd{pid}"
    job_args = ["--name", app, "--rate", str(RATE), "--keys", "2", "--checkpoint-ms", "0"]

    work = tempfile.mkdtemp(prefix="dm-bench-upgrade-")
    plugins = os.path.join(work, "plugins")
    os.makedirs(plugins)
    shutil.copy(os.path.join(bins, "libdm_plugin_flink.so"), plugins)
    config = os.path.join(work, "dmd.toml")
    with open(config, "w") as f:
        f.write(f"""
[plugins]
dir = "{plugins}"
[jobs]
target = "yarn"
savepoint_dir = "{sp_root}/dmd"
[jobs.env]
JAVA_HOME = "{env['java_home']}"
HADOOP_CONF_DIR = "{env['hadoop_conf_dir']}"
HADOOP_CLASSPATH = "{env['hadoop_classpath']}"
FLINK_CONF_DIR = "{flink['conf_dir']}"
[jobs.engines]
flink_homes = {{ "{version}" = "{flink['home']}" }}
default_flink_version = "{version}"
[supervisor]
binary = "{os.path.join(bins, 'dm-supervisor')}"
[yarn]
rm_url = "{rm}"
[hdfs]
namenode = "{env['namenode_url']}"
namenode_http = "{nn_http}"
""")
    port = 5412
    base = f"http://127.0.0.1:{port}"
    log_path = os.path.join(work, "dmd.log")
    dmd = subprocess.Popen([os.path.join(bins, "dmd"), "--config", config, "--listen", f"127.0.0.1:{port}",
                            "--data-dir", os.path.join(work, "data")], stderr=open(log_path, "w"))
    output = Output(nm_log_dirs(rm), args.poll_ms / 1000)
    results = {"dmd": [], "hand": []}
    hand = {"name": None, "app_id": None, "jid": None}
    made = set()  # YARN applications this run started

    def status():
        return (http("GET", f"{base}/applications/{app}/status")[1] or {}).get("status")

    def dmd_app():
        """The RUNNING YARN application of dmd's application, with its job running all tasks."""
        for a in yarn_apps(rm, f"applicationTags=dm-app-{app}&states=RUNNING"):
            jid = running_job(rm, a["id"])
            if jid:
                return a["id"]
        return None

    def first_output(app_id, bound):
        return wait(f"the first output of {app_id}", bound,
                    lambda: ((output.get(app_id).get("first") is not None), output.get(app_id)), 0.1)

    def hand_start(i, savepoint):
        name = f"upd-hand-{pid}-{i}"
        hand["submit"] = time.time()
        # Application mode is `run-application` on Flink 1.x, `run` on 2.x (as dm's plugin does).
        action = "run-application" if int(version.split(".")[0]) < 2 else "run"
        argv = [flink_bin, action, "-t", "yarn-application", f"-Dyarn.application.name={name}"]
        argv += ["-s", savepoint] if savepoint else []
        run = subprocess.run(argv + ["-c", cls, jar] + job_args, env=client_env, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"flink run failed ({run.returncode}): {run.stderr[-2000:]}")

        def up():
            for a in yarn_apps(rm, "states=RUNNING"):
                if a["name"] == name:
                    made.add(a["id"])
                    jid = running_job(rm, a["id"])
                    return bool(jid), (a["id"], jid)
            return False, None
        hand["name"] = name
        hand["app_id"], hand["jid"] = wait(f"the hand-run job {name} RUNNING", 300, up)

    try:
        wait("dmd", 30, lambda: (http("GET", f"{base}/plugins")[0] == 200, None))
        versions = [f"upd-{n}.0.0" for n in range(1, args.rounds + 2)]
        props = json.dumps({"flink_version": version, "main_jar": "jobs.jar", "main_class": cls,
                            "application_args": " ".join(job_args)}).encode()
        for pkg_id in versions:
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                for name, data in [("application.properties", b""), ("properties.json", props),
                                   ("jobs.jar", open(jar, "rb").read())]:
                    info = tarfile.TarInfo(f"{pkg_id}/flink/job/{name}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
            code, _ = http("PUT", f"{base}/repository/packages/{pkg_id}.tar.gz?user.name={user}", buf.getvalue(),
                           "application/octet-stream")
            assert code == 200, f"upload of {pkg_id}: {code}"
            assert http("PUT", f"{base}/packages/{pkg_id}?user.name={user}")[0] == 202
            wait(f"{pkg_id} DEPLOYED", 60,
                 lambda: (lambda s: (s == "DEPLOYED", s))((http("GET", f"{base}/packages/{pkg_id}/status")[1] or {}).get("status")))
        code, _ = http("PUT", f"{base}/applications/{app}?user.name={user}", json.dumps({"package": versions[0]}).encode())
        assert code == 202, f"create: {code}"
        wait("create", 60, lambda: (status() == "CREATED", status()))
        assert http("POST", f"{base}/applications/{app}/start?user.name={user}")[0] == 202
        hand_start(0, None)
        dmd_id = wait("dmd's v1 RUNNING", 300, lambda: (lambda a: (bool(a), a))(dmd_app()))
        made.add(dmd_id)
        first_output(dmd_id, 60)
        first_output(hand["app_id"], 60)

        for i in range(args.rounds):
            for who in (["dmd", "hand"] if i % 2 == 0 else ["hand", "dmd"]):
                t0 = time.time()
                if who == "dmd":
                    old = dmd_id
                    body = {"package": versions[i + 1], "mode": "savepoint", "upgrade_ready_sec": 1}
                    code, reply = http("POST", f"{base}/applications/{app}/upgrade?user.name={user}", json.dumps(body).encode())
                    assert code == 202, f"upgrade: {code} {reply}"

                    def new_app():
                        a = dmd_app()
                        return (a is not None and a != old), a
                    new = wait("dmd's new version RUNNING", 300, new_app, 0.1)
                    made.add(new)
                    dmd_id = new
                    ended = wait("the upgrade to end", 300, lambda: (status() != "UPGRADING", status()), 0.5)
                    if ended != "STARTED":
                        sys.exit(f"upgrade ended {ended}: {http('GET', f'{base}/applications/{app}/upgrades')[1]}")
                    state = json.load(open(os.path.join(work, "data", "supervisor", "state.json")))
                    submit = state["jobs"][f"{app}/flink/job"]["attempts"][-1]["started_ms"] / 1000
                else:
                    old = hand["app_id"]
                    stop = subprocess.run([flink_bin, "stop", "--savepointPath", f"{sp_root}/hand", "-t", "yarn-application",
                                           f"-Dyarn.application.id={old}", hand["jid"]],
                                          env=client_env, capture_output=True, text=True)
                    m = re.search(r"Savepoint completed\. Path: (\S+)", stop.stdout)
                    if stop.returncode != 0 or not m:
                        sys.exit(f"flink stop failed ({stop.returncode}): {stop.stdout[-1000:]}{stop.stderr[-2000:]}")
                    hand_start(i + 1, m.group(1))
                    new, submit = hand["app_id"], hand["submit"]
                first_output(new, 120)
                was, now = output.get(old), output.get(new)
                results[who].append({
                    "downtime_s": round(now["first"] - was["last"], 3),
                    "request_to_last_v1_s": round(was["last"] - t0, 3),
                    # dm's part: v1's end, the YARN application's end, up to v2's `flink run`.
                    "last_v1_to_v2_submit_s": round(submit - was["last"], 3),
                    "request_to_first_v2_s": round(now["first"] - t0, 3),
                    "count_step": continuity(was["tail"], now["head"]),
                })
                print(f"round {i} {who}: {results[who][-1]}", file=sys.stderr, flush=True)
        upgrades = http("GET", f"{base}/applications/{app}/upgrades")[1]
    finally:
        output.close()
        if status() is not None:
            http("DELETE", f"{base}/applications/{app}?user.name={user}")
            deadline = time.time() + 300
            while time.time() < deadline and status() not in (None, "NOTCREATED"):
                time.sleep(1)
        dmd.terminate()
        dmd.wait()
        for a in made:
            http("PUT", f"{rm}/ws/v1/cluster/apps/{a}/state", json.dumps({"state": "KILLED"}).encode())
        # The supervisor dmd started for this run's data folder (it outlives dmd by design).
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    argv = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")
                except OSError:
                    continue
                if argv[0].endswith(b"dm-supervisor") and any(work.encode() in a for a in argv):
                    os.kill(int(p), 9)
        hdfs_delete(nn_http, sp_path, user)
        kept = os.path.join(tempfile.gettempdir(), f"dm-bench-upgrade-{pid}-dmd.log")
        shutil.copy(log_path, kept)
        shutil.rmtree(work, ignore_errors=True)

    med = {who: statistics.median(r["downtime_s"] for r in rs) for who, rs in results.items()}
    med_submit = {who: statistics.median(r["last_v1_to_v2_submit_s"] for r in rs) for who, rs in results.items()}
    print(json.dumps({"flink_version": version, "rounds": args.rounds, "poll_ms": args.poll_ms, "all": results,
                      "median_downtime_s": med,
                      "median_last_v1_to_v2_submit_s": med_submit, "ratio_dmd_over_hand": round(med["dmd"] / med["hand"], 3),
                      "upgrades": upgrades, "dmd_log": kept}, indent=2))


if __name__ == "__main__":
    main()
