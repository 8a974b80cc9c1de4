#!/usr/bin/env python3
"""Benchmark: dmd's status observer with N registered applications against a ResourceManager
answer of the same size: CPU per status cycle and RM calls per cycle.

Steps: take a real `GET /ws/v1/cluster/apps?applicationTags=dm` answer (recorded from the
loopback cluster's RM when it is up and holds dm applications, else bench/data/rm-apps-loopback.json,
recorded the same way), scale it to N applications (each a copy of a recorded one with the ids,
names and dm tags of application `bench<i>`, state RUNNING), and serve it on 127.0.0.1, counting
requests. Start dmd (release build, `test` components, [yarn] rm_url = that server, a short
status interval, health rounds rare so they stay out of the figures); upload, deploy, create and
start N applications through the API; wait until every summary is RUNNING; then measure in
windows: dmd's CPU time (utime + stime, whole process) and RM requests, each divided by the cycles
the window saw (`dm_status_cycles_total`). Baseline in the same run: the CPU of Python parsing
the same answer once (`json.loads`); PNDA's summary daemon parsed the RM's whole list once per
component, i.e. N times per cycle.

Usage: bench/status_cycle.py [--apps 1000] [--interval 0.5] [--windows 7] [--seconds 10]
"""
import argparse
import concurrent.futures
import copy
import http.server
import io
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DMD = os.path.join(ROOT, "target", "release", "dmd")
RECORDED = os.path.join(ROOT, "bench", "data", "rm-apps-loopback.json")
ENV_JSON = os.path.join(ROOT, "target", "testenv", "env.json")
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def recorded_answer():
    """A live answer from the loopback cluster's RM if it has dm apps, else the committed one."""
    try:
        with open(ENV_JSON) as f:
            rm = json.load(f)["rm_url"]
        with urllib.request.urlopen(f"{rm}/ws/v1/cluster/apps?applicationTags=dm", timeout=5) as r:
            answer = json.load(r)
        if (answer.get("apps") or {}).get("app"):
            return answer, f"live from {rm}"
    except (OSError, KeyError, ValueError):
        pass
    with open(RECORDED) as f:
        return json.load(f), "bench/data/rm-apps-loopback.json"


def scaled(answer, n):
    apps = answer["apps"]["app"]
    out = []
    for i in range(n):
        app = copy.deepcopy(apps[i % len(apps)])
        app_id = f"application_{app['clusterId']}_{i + 1:04d}"
        app.update({
            "id": app_id,
            "name": f"bench{i}-c-job",
            "state": "RUNNING",
            "finalStatus": "UNDEFINED",
            "applicationTags": f"dm,dm-app-bench{i},dm-attempt-1-{app['startedTime']},dm-component-test-c",
            "trackingUrl": f"http://localhost:8088/proxy/{app_id}/",
            "diagnostics": "",
        })
        out.append(app)
    return json.dumps({"apps": {"app": out}}).encode()


class RM(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, body):
        self.body, self.calls = body, 0
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/ws/v1/cluster/apps"):
            self.server.calls += 1
            body = self.server.body
        else:
            body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def package() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in [("bench-1.0.0/test/c/properties.json", b"{}"), ("bench-1.0.0/test/c/run.txt", b"x")]:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cycles(base: str) -> int:
    _, text = request("GET", f"{base}/metrics")
    m = re.search(rb"^dm_status_cycles_total (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def wait_until(what, seconds, check):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if check():
                return
        except OSError:  # not listening yet
            pass
        time.sleep(0.2)
    sys.exit(f"timed out waiting for {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--apps", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--windows", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()

    answer, origin = recorded_answer()
    body = scaled(answer, args.apps)
    rm = RM(body)
    threading.Thread(target=rm.serve_forever, daemon=True).start()
    rm_url = f"http://127.0.0.1:{rm.server_address[1]}"

    # Baseline: Python parsing the same answer once (what PNDA paid per component).
    parses = []
    for _ in range(15):
        t = time.process_time()
        json.loads(body)
        parses.append(time.process_time() - t)
    parse_ms = statistics.median(parses) * 1000

    work = tempfile.mkdtemp(prefix="dm-bench-status-cycle-")
    port = free_port()
    config = os.path.join(work, "dm.toml")
    with open(config, "w") as f:
        f.write(f'[yarn]\nrm_url = "{rm_url}"\n[status]\ninterval_secs = {args.interval}\n'
                f'[health]\ninterval_secs = 170\n[lifecycle]\ntest_components = true\n')
    log = open(os.path.join(work, "dmd.log"), "w")
    dmd = subprocess.Popen([DMD, "--config", config, "--listen", f"127.0.0.1:{port}",
                            "--data-dir", os.path.join(work, "data")], stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until("dmd", 30, lambda: request("GET", f"{base}/packages")[0] == 200)
        assert request("PUT", f"{base}/repository/packages/bench-1.0.0.tar.gz?user.name=bench", package())[0] == 200
        assert request("PUT", f"{base}/packages/bench-1.0.0?user.name=bench")[0] == 202
        wait_until("deploy", 60, lambda: b"DEPLOYED" in request("GET", f"{base}/packages/bench-1.0.0/status")[1])

        def create(i):
            code, text = request("PUT", f"{base}/applications/bench{i}?user.name=bench",
                                 json.dumps({"package": "bench-1.0.0"}).encode())
            assert code == 202, text
            wait_until(f"bench{i} CREATED", 120,
                       lambda: b"CREATED" in request("GET", f"{base}/applications/bench{i}/status")[1])
            assert request("POST", f"{base}/applications/bench{i}/start?user.name=bench")[0] == 202

        started = time.time()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(args.apps)))
        print(f"{args.apps} applications created and started in {time.time() - started:.1f} s", file=sys.stderr)

        def all_running():
            for i in (0, args.apps // 2, args.apps - 1):
                _, text = request("GET", f"{base}/applications/bench{i}/summary")
                if json.loads(text).get(f"bench{i}", {}).get("aggregate_status") != "RUNNING":
                    return False
            return True
        wait_until("summaries RUNNING", 120, all_running)
        _, text = request("GET", f"{base}/applications/bench7/summary")
        summary = json.loads(text)["bench7"]

        per_cycle_cpu, per_cycle_calls, walls = [], [], []
        for _ in range(args.windows):
            c0, cpu0, calls0 = cycles(base), cpu_seconds(dmd.pid), rm.calls
            time.sleep(args.seconds)
            c1, cpu1, calls1 = cycles(base), cpu_seconds(dmd.pid), rm.calls
            n = c1 - c0
            per_cycle_cpu.append((cpu1 - cpu0) / n * 1000)
            per_cycle_calls.append((calls1 - calls0) / n)
            _, text = request("GET", f"{base}/metrics")
            walls.append(float(re.search(rb"^dm_status_cycle_seconds (\S+)", text, re.M).group(1)) * 1000)
        cpu_ms = statistics.median(per_cycle_cpu)
        result = {
            "apps": args.apps,
            "rm_answer": origin,
            "rm_answer_bytes": len(body),
            "interval_s": args.interval,
            "windows": args.windows,
            "window_s": args.seconds,
            "cpu_ms_per_cycle_median": round(cpu_ms, 2),
            "cpu_ms_per_cycle_all": [round(x, 2) for x in per_cycle_cpu],
            "rm_calls_per_cycle_median": statistics.median(per_cycle_calls),
            "rm_calls_per_cycle_all": per_cycle_calls,
            "cycle_wall_ms_median": round(statistics.median(walls), 2),
            "python_json_loads_ms_median": round(parse_ms, 2),
            "ratio_dmd_cycle_to_one_python_parse": round(cpu_ms / parse_ms, 2),
            "ratio_dmd_cycle_to_target_50ms": round(cpu_ms / 50, 3),
            "sample_component": summary["test-1"],
            "dmd_rss_kib": int(open(f"/proc/{dmd.pid}/status").read().split("VmRSS:")[1].split()[0]),
        }
        print(json.dumps(result, indent=2))
    finally:
        dmd.terminate()
        dmd.wait(timeout=60)
        rm.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
