"""The results: figures against their baselines, the machine and git facts, the summary table and
the results JSON."""
import datetime
import json
import os
import platform
import subprocess
import time

from . import config as cfg
from .config import (AGENT_COUNTS, CONNECTIONS, DURATION, FLEET_CLUSTERS, HUB_ARGS, LOG_BYTES, OUT_DIR,
                     QUICK, ROOT, SEED_PODS, STEPS, STORM_AGENTS)
from .console import say
from .meters import CpuMeter, read_latency_samples
from .clients import samples_file
from .plot import write_svg


class Results:
    def __init__(self):
        self.figures = []
        self.details = {}

    def add(self, fid, title, unit, value, baseline=None, baseline_name=None, target=None,
            target_text=None, meets=None, lower_is_better=True, note_text=None):
        fig = {"id": fid, "title": title, "unit": unit, "value": value}
        if baseline is not None:
            fig["baseline"] = {"name": baseline_name, "value": baseline}
            if baseline:
                fig["ratio"] = value / baseline
            if unit in ("ms", "us"):
                fig["added"] = value - baseline
        if target is not None or target_text:
            fig["target"] = {"value": target, "text": target_text}
            if meets is None and target is not None:
                meets = value <= target if lower_is_better else value >= target
            fig["meets_target"] = meets
        if note_text:
            fig["note"] = note_text
        self.figures.append(fig)
        return fig


def fmt(v, unit):
    if v is None:
        return "-"
    if unit in ("req/s", "bytes", "B", "reads"):
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def print_table(results):
    rows = [("figure", "measured", "baseline", "ratio", "target", "ok")]
    for f in results.figures:
        b = f.get("baseline")
        base = f"{fmt(b['value'], f['unit'])} ({b['name']})" if b else "-"
        ratio = f"{f['ratio']:.2f}x" if "ratio" in f else "-"
        tgt = f.get("target", {}).get("text") or "-"
        ok = {True: "yes", False: "NO", None: "-"}[f.get("meets_target")]
        rows.append((f["title"], f"{fmt(f['value'], f['unit'])} {f['unit']}", base, ratio, tgt, ok))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, r in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[j]) for j, c in enumerate(r)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    print("\n".join(lines), flush=True)
    return "\n".join(lines)


def machine_info():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    def tool_version(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except Exception:  # noqa: BLE001
            return "unavailable"
    with open("/proc/loadavg") as f:
        loadavg = f.read().split()[:3]
    return {"nproc": os.cpu_count(), "cpu_model": cpu, "kernel": platform.release(), "loadavg_at_start": loadavg,
            "memory_bytes": mem, "python": platform.python_version(),
            "openssl": tool_version(["openssl", "version"]), "wrk": tool_version(["wrk", "-v"])}


def git_info():
    def git(*args):
        r = subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""
    sha = git("rev-parse", "--short", "HEAD") or "nogit"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {"sha": sha, "dirty": dirty, "describe": git("describe", "--always", "--dirty")}


def result_stem(date, sha, quick, only, steps=STEPS):
    """The results file name without extension: <date>-<sha>[-quick][-partial]."""
    return f"{date}-{sha}{'-quick' if quick else ''}{'' if tuple(only) == tuple(steps) else '-partial'}"


def watch_series(lines):
    """The watch step's samples ("<path> <seq> <microseconds>" lines) as the plot's series."""
    series = {"direct": [], "cache rv unset": [], "forward": []}
    key = {"direct": "direct", "cache": "cache rv unset", "forward": "forward"}
    for line in lines:
        n, _, us = line.split()
        series[key[n]].append(float(us))
    return series


def other_processes_cpu(history):
    """(wall-weighted mean, max) CPU% of other processes over CpuMeter's (wall, percent) pairs."""
    wall = sum(w for w, _ in history)
    mean_other = sum(w * o for w, o in history) / wall
    worst = max(o for _, o in history)
    return mean_other, worst


def finish(results, latency, failures, started, machine, git, limits):
    """Writes the results JSON and the plot, prints the summary table."""
    elapsed = time.monotonic() - started
    date = datetime.date.today().isoformat()
    os.makedirs(OUT_DIR, exist_ok=True)
    stem = os.path.join(OUT_DIR, result_stem(date, git["sha"], QUICK, cfg.ONLY))
    panels = []
    for kind, title in (("get", "GET one pod"), ("list", "LIST 10,000 pods (JSON)"),
                        ("list-table", "LIST 10,000 pods (Table)")):
        series = {}
        for name in ("direct", "forward", "cache rv=0", "cache rv unset"):
            s = latency.get((kind, name))
            if s:
                series[name] = read_latency_samples(s["samples"])
        if series:
            panels.append((title, series))
    watch_path = samples_file("watch")
    if os.path.exists(watch_path):
        with open(watch_path) as f:
            series = watch_series(f)
        panels.append(("watch: edge create -> event at client (cache = via hub cache)", series))
    if panels:
        write_svg(stem + ".svg", panels, f"{git['describe']}, {date}, {machine['nproc']} x {machine['cpu_model']}")
    doc = {"schema": 1, "date": date, "git": git, "machine": machine,
           "config": {"quick": QUICK, "seed_pods": SEED_PODS, "throughput_seconds": DURATION,
                      "throughput_connections": CONNECTIONS, "agent_counts": AGENT_COUNTS,
                      "storm_agents": STORM_AGENTS, "log_bytes": LOG_BYTES, "fd_limit": list(limits),
                      "hub_args": HUB_ARGS, "steps": cfg.ONLY, "fleet_clusters": FLEET_CLUSTERS,
                      "load_generator": "wrk -t2 (throughput); kubehub-bench-client (latency, one connection)",
                      "command": "make bench"},
           "elapsed_seconds": round(elapsed, 1), "failures": failures,
           "figures": results.figures, "details": results.details}
    with open(stem + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    say(f"summary ({elapsed / 60:.1f} min; {machine['nproc']} cores shared by load generator and servers; "
        f"ratios are against baselines measured in this run)")
    print_table(results)
    if CpuMeter.history:
        mean_other, worst = other_processes_cpu(CpuMeter.history)
        doc["other_processes_cpu_percent"] = {"mean": round(mean_other, 1), "max": worst}
        print(f"\nother processes on this machine used {mean_other:.0f}% CPU on average during the measurements "
              f"(max {worst:.0f}%; 200% = both cores){' -- results are disturbed' if mean_other > 20 else ''}")
        with open(stem + ".json", "w") as f:
            json.dump(doc, f, indent=1)
    print(f"\nresults: {os.path.relpath(stem + '.json', ROOT)}" +
          (f"\nplot:    {os.path.relpath(stem + '.svg', ROOT)}" if panels else ""), flush=True)
    if failures:
        print(f"{len(failures)} step(s) failed: " + "; ".join(failures), flush=True)
    cfg.WORK.close()
