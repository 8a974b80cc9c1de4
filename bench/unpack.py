#!/usr/bin/env python3
"""Benchmark: validate + unpack a generated package with `dmctl package unpack`, against
`tar xzf` of the same archive in the same run.

Generates `<size>` MB packages (2,000 small text files plus one large jar of incompressible
bytes, like a real fat jar), then alternates the two commands `--runs` times each, and prints
median wall times, the ratio, and peak RSS of the measured process (for tar, without its
gzip child). Peak RSS is
measured at two package sizes to show it does not grow with the package.

Usage: bench/unpack.py [--dmctl PATH] [--runs N] [--sizes 50,500] [--work DIR]
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_package_folder(parent: str, mb: int) -> str:
    name = f"bench{mb}-1.0.0"
    root = os.path.join(parent, name)
    if os.path.exists(root):
        shutil.rmtree(root)
    rng = random.Random(mb)
    words = [f"w{i}" for i in range(500)]
    small_total = 0
    for i in range(2000):
        component = f"c{i % 10}"
        folder = os.path.join(root, "flink", component, "conf", f"d{i % 40}")
        os.makedirs(folder, exist_ok=True)
        text = " ".join(rng.choice(words) for _ in range(rng.randint(50, 1500))) + "\n"
        with open(os.path.join(folder, f"f{i}.properties"), "w") as f:
            f.write(text)
        small_total += len(text)
    for c in range(10):
        with open(os.path.join(root, "flink", f"c{c}", "application.properties"), "w") as f:
            f.write("parallelism=1\n")
    jar_bytes = max(mb * 1024 * 1024 - small_total, 1024 * 1024)
    with open(os.path.join(root, "flink", "c0", "job.jar"), "wb") as f:
        chunk = 8 * 1024 * 1024
        left = jar_bytes
        while left > 0:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n
    return root


def run(argv, cwd=None):
    """Runs argv; returns (seconds, peak RSS in KiB of that process).

    Peak RSS is VmHWM polled from /proc while the process runs: ru_maxrss would also count the
    Python parent's pages the child had before exec.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{argv} failed: {proc.stderr.read().decode()}")
    return elapsed, peak


def bench_size(dmctl: str, work: str, mb: int, runs: int) -> dict:
    folder = make_package_folder(work, mb)
    archive = os.path.join(work, os.path.basename(folder) + ".tar.gz")
    if os.path.exists(archive):
        os.remove(archive)
    subprocess.run([dmctl, "package", "build", folder, "-o", archive], check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(folder)
    size = os.path.getsize(archive)
    out = os.path.join(work, "out")
    times = {"tar": [], "dmctl": []}
    rss = {"tar": [], "dmctl": []}
    for i in range(runs):
        # Alternate, so drifting machine load hits both alike.
        order = ["tar", "dmctl"] if i % 2 == 0 else ["dmctl", "tar"]
        for tool in order:
            if os.path.exists(out):
                shutil.rmtree(out)
            if tool == "tar":
                os.makedirs(out)
                t, r = run(["tar", "xzf", archive, "-C", out])
            else:
                t, r = run([dmctl, "package", "unpack", archive, out])
            times[tool].append(t)
            rss[tool].append(r)
    shutil.rmtree(out, ignore_errors=True)
    os.remove(archive)
    med = {tool: statistics.median(v) for tool, v in times.items()}
    return {
        "package_mb": mb,
        "archive_bytes": size,
        "runs": runs,
        "median_s": med,
        "ratio_dmctl_over_tar": med["dmctl"] / med["tar"],
        "peak_rss_kib": {tool: max(v) for tool, v in rss.items()},
        "all_s": times,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dmctl", default=os.path.join(ROOT, "target", "release", "dmctl"))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sizes", default="50,500")
    parser.add_argument("--work", default=os.path.join(ROOT, "target", "bench-unpack"))
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    results = [bench_size(args.dmctl, args.work, int(mb), args.runs) for mb in args.sizes.split(",")]
    print(json.dumps(results, indent=2))
    for r in results:
        print(
            f"{r['package_mb']} MB: tar xzf {r['median_s']['tar']:.3f}s, dmctl unpack {r['median_s']['dmctl']:.3f}s, "
            f"ratio {r['ratio_dmctl_over_tar']:.3f}; peak RSS dmctl {r['peak_rss_kib']['dmctl'] / 1024:.1f} MiB "
            f"(tar process {r['peak_rss_kib']['tar'] / 1024:.1f} MiB)",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
