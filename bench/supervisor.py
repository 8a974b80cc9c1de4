#!/usr/bin/env python3
"""Benchmark: dm-supervisor's start latency and memory.

- Start latency: time from sending a `start` request on the socket to the job's program running
  (the job is `date +%s%N`, which prints the moment), against spawning the same argv directly
  from this script, in the same run. Medians over `--runs` jobs each.
- Memory: the supervisor's RSS idle and with `--jobs` supervised local jobs (`sleep`), and the
  increment per job.

Usage: bench/supervisor.py [--runs 30] [--jobs 100]
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "dm-supervisor")


def call(sock_path: str, request: dict) -> dict:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock_path)
        s.sendall((json.dumps(request) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def spec(job_id: str, workdir: str, argv: list, policy: str) -> dict:
    return {
        "id": job_id,
        "workdir": workdir,
        "job": {
            "name": job_id.replace("/", "-"),
            "kind": "streaming",
            "submit": {"argv": argv},
            "respawn": {"policy": policy, "delay_sec": 0},
            "yarn": None,
            "stop": [{"kind": "signal", "grace_sec": 2}],
        },
    }


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_for(path: str, seconds: float = 10) -> None:
    deadline = time.time() + seconds
    while not os.path.exists(path):
        if time.time() > deadline:
            sys.exit(f"{path} never appeared")
        time.sleep(0.001)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=100)
    args = parser.parse_args()
    date = shutil.which("date")
    sleep = shutil.which("sleep")
    work = tempfile.mkdtemp(prefix="dm-bench-supervisor-")
    state = os.path.join(work, "state")
    sock = os.path.join(state, "supervisor.sock")
    sup = subprocess.Popen([BINARY, "--dir", state], stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while not os.path.exists(sock):
            if time.time() > deadline:
                sys.exit("supervisor did not start")
            time.sleep(0.01)
        time.sleep(0.5)
        idle = rss_kib(sup.pid)

        # The job prints the clock (ns) when it runs; the same program is spawned directly
        # for the baseline, so its own start-up cost cancels out.
        supervised, direct = [], []
        for i in range(args.runs):
            for how in (["supervised", "direct"] if i % 2 == 0 else ["direct", "supervised"]):
                folder = os.path.join(work, f"{how}{i}")
                os.makedirs(folder)
                if how == "supervised":
                    log = os.path.join(state, "logs", f"lat__{i}", "attempt-1.log")
                    t0 = time.time_ns()
                    call(sock, {"op": "start", "spec": spec(f"lat/{i}", folder, [date, "+%s%N"], "no")})
                    wait_for(log)
                    deadline = time.time() + 10
                    while not open(log).read().strip():
                        if time.time() > deadline:
                            sys.exit("the job printed nothing")
                        time.sleep(0.001)
                    supervised.append((int(open(log).read().strip()) - t0) / 1e6)
                else:
                    t0 = time.time_ns()
                    out = subprocess.run([date, "+%s%N"], cwd=folder, capture_output=True, text=True).stdout
                    direct.append((int(out.strip()) - t0) / 1e6)

        for i in range(args.jobs):
            folder = os.path.join(work, f"job{i}")
            os.makedirs(folder)
            call(sock, {"op": "start", "spec": spec(f"mem/{i}", folder, [sleep, "600"], "always")})
        deadline = time.time() + 30
        while sum(1 for j in call(sock, {"op": "list"})["jobs"] if j["state"] == "running" and j["id"].startswith("mem/")) < args.jobs:
            if time.time() > deadline:
                sys.exit("jobs did not all start")
            time.sleep(0.1)
        time.sleep(1)
        loaded = rss_kib(sup.pid)
        for i in range(args.jobs):
            call(sock, {"op": "stop", "id": f"mem/{i}"})
    finally:
        sup.terminate()
        sup.wait()
        shutil.rmtree(work, ignore_errors=True)

    result = {
        "runs": args.runs,
        "start_to_exec_ms_median": {"supervised": round(statistics.median(supervised), 2), "direct_spawn": round(statistics.median(direct), 2)},
        "overhead_ms_median": round(statistics.median(supervised) - statistics.median(direct), 2),
        "ratio_supervised_over_direct": round(statistics.median(supervised) / statistics.median(direct), 2),
        "rss_kib": {"idle": idle, f"with_{args.jobs}_jobs": loaded, "per_job": round((loaded - idle) / args.jobs, 1)},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
