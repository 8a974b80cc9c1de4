#!/usr/bin/env python3
"""Benchmark: starting a Flink streaming job on YARN through dm, against `flink run -t
yarn-application` of the same jar, in the same run, on the loopback cluster (tests/env/up first).

Per round, alternating which goes first:
- dm: `POST /applications/{a}/start` → time until the supervisor started the attempt (dm's own
  overhead: request, lifecycle, plan, supervisor, up to the submit command's exec) and until the
  Flink job is RUNNING (read through the RM proxy);
- direct: the same `flink run -t yarn-application` argv, from this script → time until RUNNING.
Both are then stopped. Prints medians and the ratio.

Usage: bench/start_to_running.py [--rounds 3]
"""
import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")


def http(method, url, body=None, content_type="application/json"):
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
    except urllib.error.URLError:
        return 0, None


def wait(what, seconds, check, interval=0.2):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    sys.exit(f"timed out waiting for {what}")


def running_flink_app(rm, tag=None, name=None):
    """The id of a YARN app (by tag or name) whose Flink job is RUNNING with all tasks running."""
    query = f"?applicationTags={tag}" if tag else "?states=RUNNING"
    _, body = http("GET", f"{rm}/ws/v1/cluster/apps{query}")
    for app in ((body or {}).get("apps") or {}).get("app", []):
        if app["state"] != "RUNNING" or (name and app["name"] != name):
            continue
        _, jobs = http("GET", f"{rm}/proxy/{app['id']}/jobs/overview")
        for job in (jobs or {}).get("jobs", []):
            if job["state"] == "RUNNING" and job["tasks"]["running"] == job["tasks"]["total"]:
                return app["id"]
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = json.load(open(os.path.join(ROOT, "target", "testenv", "env.json")))
    version = env["flink_default_version"]
    flink = env["flink"][version]
    rm = env["rm_url"]
    client_env = dict(os.environ, JAVA_HOME=env["java_home"], HADOOP_CONF_DIR=env["hadoop_conf_dir"],
                      HADOOP_CLASSPATH=env["hadoop_classpath"], FLINK_CONF_DIR=flink["conf_dir"])
    work = tempfile.mkdtemp(prefix="dm-bench-start-")
    plugins = os.path.join(work, "plugins")
    os.makedirs(plugins)
    for lib in ("dm_plugin_flink",):
        shutil.copy(os.path.join(RELEASE, f"lib{lib}.so"), plugins)
    config = os.path.join(work, "dmd.toml")
    with open(config, "w") as f:
        f.write(f"""
[plugins]
dir = "{plugins}"
[jobs]
target = "yarn"
[jobs.env]
JAVA_HOME = "{env['java_home']}"
HADOOP_CONF_DIR = "{env['hadoop_conf_dir']}"
HADOOP_CLASSPATH = "{env['hadoop_classpath']}"
FLINK_CONF_DIR = "{flink['conf_dir']}"
[jobs.engines]
flink_homes = {{ "{version}" = "{flink['home']}" }}
default_flink_version = "{version}"
[supervisor]
binary = "{os.path.join(RELEASE, 'dm-supervisor')}"
[yarn]
rm_url = "{rm}"
""")
    port = 5411
    base = f"http://127.0.0.1:{port}"
    dmd = subprocess.Popen([os.path.join(RELEASE, "dmd"), "--config", config, "--listen", f"127.0.0.1:{port}",
                            "--data-dir", os.path.join(work, "data")], stderr=open(os.path.join(work, "dmd.log"), "w"))
    jar = env["jobs"]["flink_jar"]
    cls = env["jobs"]["flink_streaming_class"]
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    results = {"dm_overhead_ms": [], "dm_s": [], "direct_s": [], "dm_submitted_s": [], "direct_submitted_s": []}

    def submitted_after(app_id, t0):
        """When YARN registered the application, seconds after t0."""
        _, body = http("GET", f"{rm}/ws/v1/cluster/apps/{app_id}")
        return body["app"]["startedTime"] / 1000 - t0
    try:
        wait("dmd", 30, lambda: http("GET", f"{base}/plugins")[0] == 200)
        pkg = os.path.join(work, "bench-1.0.0.tar.gz")
        with tarfile.open(pkg, "w:gz") as tar:
            props = json.dumps({"main_jar": "jobs.jar", "main_class": cls, "application_args": "--rate 5 --checkpoint-ms 0"}).encode()
            for name, data in [("application.properties", b""), ("properties.json", props), ("jobs.jar", open(jar, "rb").read())]:
                info = tarfile.TarInfo(f"bench-1.0.0/flink/job/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        assert http("PUT", f"{base}/repository/packages/bench-1.0.0.tar.gz?user.name={user}", open(pkg, "rb").read(), "application/octet-stream")[0] == 200
        assert http("PUT", f"{base}/packages/bench-1.0.0?user.name={user}")[0] == 202
        wait("deploy", 60, lambda: http("GET", f"{base}/packages/bench-1.0.0/status")[1]["status"] == "DEPLOYED")

        for i in range(args.rounds):
            app = f"bench{os.getpid()}r{i}"
            assert http("PUT", f"{base}/applications/{app}?user.name={user}", json.dumps({"package": "bench-1.0.0"}).encode())[0] == 202
            wait("create", 60, lambda: http("GET", f"{base}/applications/{app}/status")[1]["status"] == "CREATED")
            for who in (["dm", "direct"] if i % 2 == 0 else ["direct", "dm"]):
                if who == "dm":
                    t0 = time.time()
                    assert http("POST", f"{base}/applications/{app}/start?user.name={user}")[0] == 202
                    state_file = os.path.join(work, "data", "supervisor", "state.json")

                    def attempt_started():
                        try:
                            job = json.load(open(state_file))["jobs"][f"{app}/flink/job"]
                            return job["attempts"][0]["started_ms"]
                        except (OSError, KeyError, IndexError, ValueError):
                            return None
                    started_ms = wait("the attempt", 60, attempt_started, 0.001)
                    results["dm_overhead_ms"].append(started_ms - t0 * 1000)
                    app_id = wait("dm's job RUNNING", 300, lambda: running_flink_app(rm, tag=f"dm-app-{app}"))
                    results["dm_s"].append(time.time() - t0)
                    results["dm_submitted_s"].append(submitted_after(app_id, t0))
                    assert http("POST", f"{base}/applications/{app}/stop?user.name={user}")[0] == 202
                    wait("dm's stop", 300, lambda: http("GET", f"{base}/applications/{app}/status")[1]["status"] == "CREATED", 1)
                else:
                    name = f"direct-{os.getpid()}-{i}"
                    t0 = time.time()
                    out = subprocess.run([os.path.join(flink["home"], "bin", "flink"), "run", "-t", "yarn-application",
                                          f"-Dyarn.application.name={name}", "-c", cls, jar, "--rate", "5", "--checkpoint-ms", "0"],
                                         env=client_env, capture_output=True, text=True)
                    if out.returncode != 0:
                        sys.exit(f"flink run failed: {out.stderr[-2000:]}")
                    app_id = wait("the direct job RUNNING", 300, lambda: running_flink_app(rm, name=name))
                    results["direct_s"].append(time.time() - t0)
                    results["direct_submitted_s"].append(submitted_after(app_id, t0))
                    http("PUT", f"{rm}/ws/v1/cluster/apps/{app_id}/state", json.dumps({"state": "KILLED"}).encode())
    finally:
        dmd.terminate()
        dmd.wait()
        subprocess.run(["pkill", "-f", f"dm-supervisor --dir {work}"])
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in results.items()}
    print(json.dumps({"rounds": args.rounds, "all": results,
                      "median": {k: round(v, 3) for k, v in med.items()},
                      "ratio_dm_over_direct": round(med["dm_s"] / med["direct_s"], 3)}, indent=2))


if __name__ == "__main__":
    main()
