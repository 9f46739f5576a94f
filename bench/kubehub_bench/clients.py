"""Talking to the system under test: setup HTTP requests, the admin endpoints, and the measuring
tools (kubehub-bench-client, wrk, perf)."""
import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import urllib.parse

from . import config as cfg
from .console import note


def request(base, path, token, method="GET", body=None, accept="application/json", timeout=60):
    u = urllib.parse.urlparse(base)
    ctx = ssl.create_default_context(cafile=cfg.PKI.ca_cert)
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}", "Accept": accept}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, u.path + path, body=data, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        return r.status, raw
    finally:
        conn.close()


def admin_get(admin, path, timeout=30):
    host, port = admin.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def connected_agents(admin):
    status, raw = admin_get(admin, "/metrics", timeout=10)
    m = re.search(rb"^kubehub_hub_connected_agents(?:\{[^}]*\})? ([0-9.e+]+)$", raw, re.M)
    return int(float(m.group(1))) if m else -1


def cache_waits(admin):
    """kubehub_hub_cache_wait_seconds by outcome: {outcome: {"count": n, "sum_s": seconds}}."""
    status, raw = admin_get(admin, "/metrics", timeout=10)
    out = {}
    for m in re.finditer(rb'^kubehub_hub_cache_wait_seconds_(count|sum)\{outcome="(\w+)"\} ([0-9.e+-]+)$', raw, re.M):
        entry = out.setdefault(m.group(2).decode(), {})
        entry["count" if m.group(1) == b"count" else "sum_s"] = float(m.group(3))
    return out


def cache_types(admin):
    status, raw = admin_get(admin, "/debug/cache")
    return json.loads(raw)["types"]


def bench_client(mode, *args, timeout=600):
    cmd = [os.path.join(cfg.BIN, "kubehub-bench-client"), mode, "--ca", cfg.PKI.ca_cert, *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"kubehub-bench-client {mode} failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
"""


def wrk(url, token, accept, connections, duration, threads=2, cpus=None):
    script = cfg.WORK.join("report.lua")
    if not os.path.exists(script):
        with open(script, "w") as f:
            f.write(WRK_LUA)
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{int(duration)}s", "--timeout", "10s",
           "-s", script, "-H", f"Authorization: Bearer {token}", "-H", f"Accept: {accept}", url]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60,
                       preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    m = re.search(r"^WRKJSON (.*)$", r.stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk gave no report ({r.returncode}): {r.stdout[-1500:]} {r.stderr[-1500:]}")
    out = json.loads(m.group(1))
    out["rps"] = out["requests"] / (out["duration_us"] / 1e6)
    out["errors"] = out["connect_errors"] + out["read_errors"] + out["write_errors"] + out["status_errors"] + out["timeouts"]
    return out


def samples_file(name):
    return cfg.WORK.join(f"samples-{name}.txt")


def start_perf(pid, name):
    out = cfg.WORK.join(f"perf-{name}.data")
    try:
        p = subprocess.Popen(["perf", "record", *cfg.PERF_ARGS, "-p", str(pid), "-o", out],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return (p, out, name)
    except FileNotFoundError:
        return None


def stop_perf(handle):
    p, out, name = handle
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)
    report = cfg.WORK.join(f"perf-{name}.txt")
    with open(report, "w") as f:
        subprocess.run(["perf", "report", "-i", out, "--no-children", "--percent-limit", "1", "--stdio",
                        "--sort", "dso,sym", "-g", "none"], stdout=f, stderr=subprocess.DEVNULL)
    note(f"perf profile: {report}")
