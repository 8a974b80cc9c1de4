#!/usr/bin/env python3
"""Benchmark: `GET /applications/{a}/status` on dmd with 10,000 applications registered, against
a minimal actix-web server (bench/hello-actix) answering a status-sized JSON body, in the same
run, with load from wrk on loopback.

Steps: start dmd (release build, embedded defaults, the no-op `test` component type enabled,
fresh data dir); record its idle RSS; upload and deploy a one-component package; create N
applications through the API and wait until all are CREATED; record RSS; then alternate wrk
rounds against dmd (a Lua script spreads requests over all N applications) and against
hello-actix. Prints medians of req/s and p99 latency, the ratio, and RSS.

Usage: bench/status.py [--apps 10000] [--rounds 3] [--seconds 10] [--connections 16]
"""
import argparse
import concurrent.futures
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
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method: str, url: str, body: bytes = None, content_type: str = "application/json"):
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{url} did not answer within {seconds}s")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_package() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in [("bench-1.0.0/test/c/properties.json", b"{}"), ("bench-1.0.0/test/c/run.txt", b"x")]:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def seed(base: str, apps: int) -> float:
    start = time.time()
    status, body = request("PUT", f"{base}/repository/packages/bench-1.0.0.tar.gz?user.name=bench", test_package(), "application/octet-stream")
    assert status in (200, 201), (status, body)
    status, body = request("PUT", f"{base}/packages/bench-1.0.0?user.name=bench")
    assert status == 202, (status, body)
    while json.loads(request("GET", f"{base}/packages/bench-1.0.0/status")[1])["status"] != "DEPLOYED":
        time.sleep(0.1)

    def create(i: int) -> None:
        status, body = request("PUT", f"{base}/applications/app{i}?user.name=bench", json.dumps({"package": "bench-1.0.0"}).encode())
        assert status == 202, (i, status, body)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(apps)))
    while True:
        names = json.loads(request("GET", f"{base}/applications")[1])
        pending = [i for i in (0, apps // 2, apps - 1) if json.loads(request("GET", f"{base}/applications/app{i}/status")[1])["status"] != "CREATED"]
        if len(names) >= apps and not pending:
            break
        time.sleep(0.5)
    return time.time() - start


LATENCY = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.M)
RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)


def wrk(url: str, seconds: int, connections: int, script: str = None) -> tuple:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        argv += ["-s", script]
    out = subprocess.run(argv + [url], check=True, capture_output=True, text=True).stdout
    if re.search(r"Non-2xx or 3xx responses", out):
        sys.exit(f"wrk saw errors:\n{out}")
    value, unit = LATENCY.search(out).groups()
    p99_ms = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return float(RATE.search(out).group(1)), p99_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")

    work = tempfile.mkdtemp(prefix="dm-bench-status-")
    dmd_port, hello_port = free_port(), free_port()
    env = dict(os.environ, DMD__LIFECYCLE__TEST_COMPONENTS="true", DMD__LOGGING__LEVEL="warn")
    dmd = subprocess.Popen([os.path.join(RELEASE, "dmd"), "--listen", f"127.0.0.1:{dmd_port}", "--data-dir", os.path.join(work, "data")],
                           env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "dmd.log"), "w"))
    hello = subprocess.Popen([os.path.join(RELEASE, "hello-actix"), f"127.0.0.1:{hello_port}"], stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{dmd_port}"
        wait_http(f"{base}/packages")
        wait_http(f"http://127.0.0.1:{hello_port}/")
        time.sleep(1)
        idle_rss = rss_kib(dmd.pid)
        seed_s = seed(base, args.apps)
        time.sleep(2)
        loaded_rss = rss_kib(dmd.pid)

        script = os.path.join(work, "spread.lua")
        with open(script, "w") as f:
            f.write(f"math.randomseed(7)\nrequest = function()\n  return wrk.format('GET', '/applications/app' .. math.random(0, {args.apps - 1}) .. '/status')\nend\n")
        results = {"dmd": [], "hello": []}
        for i in range(args.rounds):
            order = ["dmd", "hello"] if i % 2 == 0 else ["hello", "dmd"]
            for who in order:
                if who == "dmd":
                    results["dmd"].append(wrk(f"{base}/", args.seconds, args.connections, script))
                else:
                    results["hello"].append(wrk(f"http://127.0.0.1:{hello_port}/", args.seconds, args.connections))
        peak_rss = rss_kib(dmd.pid)
    finally:
        dmd.terminate()
        hello.terminate()
        dmd.wait()
        hello.wait()
        shutil.rmtree(work, ignore_errors=True)

    med = {who: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)) for who, rs in results.items()}
    summary = {
        "apps": args.apps,
        "seed_seconds": round(seed_s, 1),
        "rounds": args.rounds,
        "seconds_per_round": args.seconds,
        "connections": args.connections,
        "req_per_s": {who: round(m[0]) for who, m in med.items()},
        "p99_ms": {who: m[1] for who, m in med.items()},
        "ratio_req_per_s_dmd_over_hello": round(med["dmd"][0] / med["hello"][0], 3),
        "dmd_rss_mib": {"idle": round(idle_rss / 1024, 1), "with_apps": round(loaded_rss / 1024, 1), "after_load": round(peak_rss / 1024, 1)},
        "all": results,
    }
    print(json.dumps(summary, indent=2))
    print(
        f"dmd {med['dmd'][0]:.0f} req/s p99 {med['dmd'][1]:.2f} ms; hello-actix {med['hello'][0]:.0f} req/s p99 {med['hello'][1]:.2f} ms; "
        f"ratio {summary['ratio_req_per_s_dmd_over_hello']}; dmd RSS idle {summary['dmd_rss_mib']['idle']} MiB, "
        f"{args.apps} apps {summary['dmd_rss_mib']['with_apps']} MiB, after load {summary['dmd_rss_mib']['after_load']} MiB",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
