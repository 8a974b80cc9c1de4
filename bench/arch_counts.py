#!/usr/bin/env python3
"""Counts for issue 12's closing note, for the checkout it runs in: lines of production code per
crate, the five largest production files, `Result<_, String>` in public signatures, state words
written as string literals outside the enum that parses them, `duplicates` pairs in production
code, and dmctl's binary size and linked crate count.

Production code: `.rs` files of the workspace's crates, without `tests/` folders, `tests.rs`
files, `benches/` and the inline `#[cfg(test)] mod tests` blocks. Nothing is built: dmctl's
sizes are those of the binaries already in `target/` (said so when missing)."""

import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# The state words of YARN, Flink, Spark, Oozie and PNDA's summaries that dm parses into enums.
STATES = [
    "NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING", "FINISHED", "FAILED", "KILLED",
    "SUCCEEDED", "UNDEFINED", "SUSPENDED", "PREP", "CANCELED", "CANCELLING", "FAILING",
    "RESTARTING", "CREATED", "RECONCILING", "INITIALIZING", "STOPPED", "RUNNINGWITHERROR",
    "SUSPENDEDWITHERROR", "DONEWITHERROR", "PREPSUSPENDED", "KILLED_WITH_FAILURES",
    "RUNNING_WITH_ERRORS", "COMPLETED", "UNKNOWN",
]
LITERAL = re.compile(r'"(' + "|".join(STATES) + r')"')
# Where an enum defines or parses its words: `Variant = "WORD"` (a `named!`/`rm_words!` list),
# `"WORD" => Type::Variant` (a parse) and `Type::Variant => "WORD"` (as_str).
DEFINITION = re.compile(
    r'^\s*([A-Z]\w* = "[A-Z_]+",?\s*)+$'
    r'|"[A-Z_]+"(\s*\|\s*"[A-Z_]+")*\s*=>\s*(Some\()?[A-Z]\w*::[A-Z]\w*'
    r'|[A-Z]\w*::[A-Z]\w*\s*=>\s*"[A-Z_]+"'
    r'|#\[serde\(rename\s*=\s*"[A-Z_]+"\)\]'
)
STRING_RESULT = re.compile(r"Result<.*,\s*String>\s*(where\b.*)?$")


def crates():
    """(crate folder, name) of the workspace's members, from the root Cargo.toml."""
    text = open(os.path.join(ROOT, "Cargo.toml")).read()
    members = re.search(r"members\s*=\s*\[(.*?)\]", text, re.S).group(1)
    for folder in re.findall(r'"([^"]+)"', members):
        manifest = open(os.path.join(ROOT, folder, "Cargo.toml")).read()
        name = re.search(r'^name\s*=\s*"([^"]+)"', manifest, re.M).group(1)
        yield folder, name


def production_files(folder):
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, folder)):
        dirnames[:] = [d for d in dirnames if d not in ("tests", "target", "benches", "fuzz")]
        for f in sorted(filenames):
            if f.endswith(".rs") and f != "tests.rs":
                yield os.path.join(dirpath, f)


def production_lines(path):
    """The file's lines up to its inline test module."""
    lines = open(path, encoding="utf-8").read().splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "#[cfg(test)]" and i + 1 < len(lines) and re.match(
            r"\s*mod \w+\s*(\{|;)", lines[i + 1]
        ):
            if lines[i + 1].rstrip().endswith(";"):
                continue
            return lines[:i]
    return lines


def signatures(lines):
    """(is public, signature) of every fn: `pub fn …` and the methods of a `pub trait`."""
    in_pub_trait, depth, trait_depth = False, 0, None
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if re.match(r"pub trait \w+", stripped):
            in_pub_trait, trait_depth = True, depth
        m = re.match(r"(pub(\([^)]*\))? )?(unsafe |const |extern \"C\" )*fn \w+", stripped)
        if m:
            sig = stripped
            j = i
            while not re.search(r"[{;]\s*$", sig) and j + 1 < len(lines):
                j += 1
                sig += " " + lines[j].strip()
            sig = re.sub(r"\s*[{;]\s*$", "", sig)
            public = (m.group(1) == "pub ") or (in_pub_trait and not m.group(1))
            yield public, sig, i + 1
        depth += line.count("{") - line.count("}")
        if in_pub_trait and depth <= trait_depth and "}" in line:
            in_pub_trait = False
        i += 1


def main():
    per_crate, files, string_results, literals = [], [], [], []
    for folder, name in crates():
        total = 0
        for path in production_files(folder):
            lines = production_lines(path)
            rel = os.path.relpath(path, ROOT)
            total += len(lines)
            files.append((len(lines), rel))
            for public, sig, at in signatures(lines):
                if public and STRING_RESULT.search(sig):
                    string_results.append(f"{rel}:{at}")
            for n, line in enumerate(lines, 1):
                if line.strip().startswith("//") or DEFINITION.search(line):
                    continue
                for _ in LITERAL.finditer(line):
                    literals.append(f"{rel}:{n}")
        per_crate.append((total, name))
    all_lines = sum(n for n, _ in per_crate)
    print("lines of production code per crate:")
    for n, name in sorted(per_crate, reverse=True):
        print(f"  {name:28} {n:6}  {100 * n / all_lines:4.1f}%")
    print(f"  {'total':28} {all_lines:6}")
    print("five largest production files:")
    for n, rel in sorted(files, reverse=True)[:5]:
        print(f"  {n:6} {rel}")
    print(f"Result<_, String> in public signatures: {len(string_results)}")
    for at in string_results:
        print(f"  {at}")
    print(f"state literals outside their enum: {len(literals)}")
    for at in literals:
        print(f"  {at}")
    duplicates(files)
    dmctl()


def duplicates(files):
    if not shutil.which("duplicates"):
        return
    out = subprocess.run(
        ["duplicates", "--repo", ROOT, "--most", "200", "--seconds", "120"],
        capture_output=True, text=True,
    ).stdout.splitlines()
    production = {rel for _, rel in files}
    rows = [l for l in out if re.match(r"^D\d+ ", l)]
    pairs = 0
    for row in rows:
        sides = re.findall(r"(\S+\.rs):\d+-\d+", row)
        if len(sides) == 2 and all(s in production for s in sides):
            pairs += 1
    print(f"duplicates pairs in production code: {pairs} (of {len(rows)} listed)")


def dmctl():
    for profile in ("debug", "release"):
        path = os.path.join(ROOT, "target", profile, "dmctl")
        if not os.path.exists(path):
            print(f"dmctl ({profile}): not built")
            continue
        size = os.path.getsize(path)
        line = f"dmctl ({profile}): {size / 2**20:.1f} MiB"
        if profile == "release" and shutil.which("strip"):
            stripped = path + ".stripped"
            subprocess.run(["strip", "-o", stripped, path], check=True)
            line += f", stripped {os.path.getsize(stripped) / 2**20:.1f} MiB"
            os.remove(stripped)
        print(line)
    tree = subprocess.run(
        ["cargo", "tree", "-p", "dmctl", "-e", "normal", "--prefix", "none", "--offline"],
        capture_output=True, text=True, cwd=ROOT,
    )
    crates = {l for l in tree.stdout.splitlines() if l.strip()}
    print(f"dmctl's linked crates: {len(crates)}" if tree.returncode == 0 else "dmctl's linked crates: cargo tree failed")


if __name__ == "__main__":
    sys.exit(main())
