"""Step 4, watch: delivery latency of watch events, direct, forwarded and from the cache."""
import http.client
import json
import os
import ssl
import time
import urllib.parse

from .. import config as cfg
from ..config import BENCH_NS, EDGE_TOKEN, QUICK, USER_TOKEN
from ..console import note, say
from ..meters import CpuMeter
from ..clients import bench_client, samples_file


def bench_watch(system, results):
    """4. edge change -> (hub cache | tunnel) -> watching client, vs a watch on the edge itself."""
    say("4. watch latency: ConfigMaps created at the edge, seen by watches direct / cached / forwarded")
    label_value = "w" + os.urandom(4).hex()
    selector = urllib.parse.quote(f"kubehub-bench-watch={label_value}")
    path = f"/api/v1/namespaces/{BENCH_NS}/configmaps?watch=1&labelSelector={selector}"
    watches = [("direct", system.standin_url + path, EDGE_TOKEN),
               ("cache", system.hub_cache.cluster_url("edge-cache") + path, USER_TOKEN),
               ("forward", system.hub_fwd.cluster_url("edge-forward") + path, USER_TOKEN)]
    count, warm = (100, 5) if QUICK else (500, 20)
    with CpuMeter(system.pids()) as meter:
        s = bench_client("watch", "--create-url", system.standin_url, "--create-token", EDGE_TOKEN,
                         "--namespace", BENCH_NS, "--label", f"kubehub-bench-watch={label_value}",
                         "--watch-names", ";".join(w[0] for w in watches),
                         "--watch-urls", ";".join(w[1] for w in watches),
                         "--watch-tokens", ";".join(w[2] for w in watches),
                         "--count", str(count), "--warmup", str(warm), "--interval-ms", "10",
                         "--samples-out", samples_file("watch"), timeout=300)
    s["cpu"] = meter.result
    for n, _, _ in watches:
        w = s[n]
        if w.get("error") or w.get("missing"):
            note(f"watch {n}: error={w.get('error')!r} missing={w.get('missing')}")
        note(f"{n:8s} p50 {w.get('p50_us', 0) / 1000:.3f} ms  p99 {w.get('p99_us', 0) / 1000:.3f} ms  "
             f"missing {w.get('missing')}")
    d, c = s["direct"], s["cache"]
    results.add("watch.cache.p99", "watch via hub cache: p99 (edge write -> client)", "ms", c["p99_us"] / 1000,
                d["p99_us"] / 1000, "direct watch", target=20, target_text="< 20 ms",
                meets=c["p99_us"] / 1000 < 20 and not c.get("missing"))
    results.add("watch.cache.p50", "watch via hub cache: p50", "ms", c["p50_us"] / 1000, d["p50_us"] / 1000,
                "direct watch")
    if "p50_us" in s["forward"]:
        results.add("watch.forward.p50", "watch forwarded through the tunnel: p50", "ms",
                    s["forward"]["p50_us"] / 1000, d["p50_us"] / 1000, "direct watch")

    # Writes through the hub, visible in the writer's cached reads (issue 5): create through the
    # hub, then GET ?resourceVersion=0 from the cache until it is there.
    base = system.hub_cache.cluster_url("edge-cache")
    u = urllib.parse.urlparse(base)
    ctx = ssl.create_default_context(cafile=cfg.PKI.ca_cert)
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
    hdr = {"Authorization": f"Bearer {USER_TOKEN}", "Accept": "application/json", "Content-Type": "application/json"}
    delays = []
    polls = []
    for i in range(20 if QUICK else 100):
        name = f"visible-{label_value}-{i}"
        body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": BENCH_NS}})
        conn.request("POST", u.path + f"/api/v1/namespaces/{BENCH_NS}/configmaps", body=body, headers=hdr)
        r = conn.getresponse()
        r.read()
        t_ack = time.perf_counter()
        if r.status != 201:
            raise RuntimeError(f"create through the hub: HTTP {r.status}")
        n = 0
        while True:
            n += 1
            conn.request("GET", u.path + f"/api/v1/namespaces/{BENCH_NS}/configmaps/{name}?resourceVersion=0", headers=hdr)
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                break
            if time.perf_counter() - t_ack > 10:
                raise RuntimeError("a write through the hub never showed up in the cache")
        delays.append((time.perf_counter() - t_ack) * 1e6)
        polls.append(n)
    delays.sort()
    vis = {"p50_us": delays[len(delays) // 2], "p99_us": delays[int(0.99 * (len(delays) - 1))],
           "max_us": delays[-1], "polls_mean": sum(polls) / len(polls), "count": len(delays)}
    note(f"write acknowledged -> visible in a cached GET: p50 {vis['p50_us'] / 1000:.2f} ms  "
         f"p99 {vis['p99_us'] / 1000:.2f} ms (mean {vis['polls_mean']:.1f} GETs)")
    results.add("watch.write_visible.p50", "write through hub -> visible in cached GET: p50", "ms",
                vis["p50_us"] / 1000, note_text="includes one cached GET round trip per poll")
    s["write_visible"] = vis
    results.details["watch"] = s
