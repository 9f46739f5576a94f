#!/usr/bin/env python3
"""clang-tidy over every C++ source the build compiles, with the checks in .clang-tidy.

Usage: scripts/tidy.py BUILD_DIR [--jobs N] [--no-cache] [PATH_SUBSTRING ...]

Needs BUILD_DIR/compile_commands.json (any configured build). A whole-tree run costs about
6 s of CPU per source file, so clean results are remembered in BUILD_DIR/tidy-cache/: a file
is checked again only when it, a project header it includes (from Ninja's dependency log, so
after a build), the compile command, .clang-tidy or clang-tidy itself changed. A file the
build has not compiled yet has no dependency log and is always checked.

Prints each finding as clang-tidy wrote it and ends with one line
"tidy: N files checked, N from cache, N with findings"; exits 1 on any finding.
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIDY = os.environ.get("CLANG_TIDY", "clang-tidy")


def ninja_deps(build_dir):
    """Maps each object file (relative to the build dir) to the files it was built from."""
    try:
        out = subprocess.run(["ninja", "-C", build_dir, "-t", "deps"], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    deps, current = {}, None
    for line in out.splitlines():
        if not line.strip():
            current = None
        elif not line.startswith(" "):
            obj = line.split(":", 1)[0]
            # Stale entries (the source changed since) are not trusted.
            current = [] if "(VALID)" in line else None
            if current is not None:
                deps[obj] = current
        elif current is not None:
            current.append(line.strip())
    return deps


def object_of(command):
    args = shlex.split(command)
    return args[args.index("-o") + 1] if "-o" in args else None


def file_digest(path, cache):
    if path not in cache:
        try:
            with open(path, "rb") as f:
                cache[path] = hashlib.sha256(f.read()).hexdigest()
        except OSError:
            cache[path] = "missing"
    return cache[path]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--no-cache", action="store_true", help="check every file again")
    ap.add_argument("only", nargs="*", help="check only sources whose path contains one of these")
    a = ap.parse_intermixed_args()

    build_dir = os.path.abspath(a.build_dir)
    db_path = os.path.join(build_dir, "compile_commands.json")
    if not os.path.exists(db_path):
        sys.exit(f"tidy: {db_path} missing; configure first (make build)")
    with open(db_path) as f:
        entries = json.load(f)
    try:
        version = subprocess.run([TIDY, "--version"], capture_output=True, text=True,
                                 check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"tidy: cannot run {TIDY}: {e}; `make deps` installs clang-tidy")
    with open(os.path.join(ROOT, ".clang-tidy"), "rb") as f:
        config = f.read()

    deps = ninja_deps(build_dir)
    digests = {}
    cache_dir = os.path.join(build_dir, "tidy-cache")
    os.makedirs(cache_dir, exist_ok=True)

    jobs = []  # (source, cache key or None)
    for e in entries:
        src = os.path.normpath(os.path.join(e["directory"], e["file"]))
        if not src.startswith(ROOT + os.sep) or src.startswith(build_dir + os.sep):
            continue  # generated sources (embedded files) are not ours to lint
        rel = os.path.relpath(src, ROOT)
        if a.only and not any(s in rel for s in a.only):
            continue
        key = None
        obj = object_of(e["command"])
        files = deps.get(obj) if obj else None
        if files:
            h = hashlib.sha256()
            h.update(version.encode())
            h.update(config)
            # The command with the checkout's location taken out, so two clones share a cache.
            h.update(e["command"].replace(ROOT, "").encode())
            for d in files:
                p = os.path.normpath(os.path.join(build_dir, d))
                if p.startswith(ROOT + os.sep):  # system headers change with the packages only
                    h.update(os.path.relpath(p, ROOT).encode())
                    h.update(file_digest(p, digests).encode())
            key = h.hexdigest()
        jobs.append((rel, key))

    def check(job):
        rel, key = job
        if key and not a.no_cache and os.path.exists(os.path.join(cache_dir, key)):
            return rel, True, True, ""
        r = subprocess.run(["nice", TIDY, "-p", build_dir, "--quiet",
                            "--extra-arg=-Wno-unknown-warning-option", rel],
                           cwd=ROOT, capture_output=True, text=True)
        text = "\n".join(l for l in (r.stdout + r.stderr).splitlines()
                         if not l.endswith("warnings generated.") and
                         not l.endswith("warning generated."))
        ok = r.returncode == 0 and "warning:" not in text and "error:" not in text
        if ok and key:
            open(os.path.join(cache_dir, key), "w").close()
        return rel, ok, False, text

    start = time.monotonic()
    failed, cached = [], 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        for rel, ok, from_cache, text in pool.map(check, jobs):
            cached += from_cache
            if not ok:
                failed.append(rel)
                print(text.strip() or f"{rel}: clang-tidy failed without output", flush=True)
    print(f"tidy: {len(jobs)} files checked, {cached} from cache, {len(failed)} with findings "
          f"({time.monotonic() - start:.0f} s)")
    for rel in failed:
        print(f"tidy: findings in {rel}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
