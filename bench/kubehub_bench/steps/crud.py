"""Step 2, crud: create, update and delete through the hub against direct."""

from ..config import BENCH_NS, EDGE_TOKEN, QUICK, USER_TOKEN
from ..console import note, say
from ..meters import CpuMeter
from ..clients import bench_client, samples_file


def bench_crud(system, results):
    """2. create/update/delete loop of a ConfigMap: direct vs through the (caching) hub."""
    say("2. create/update/delete loop: direct vs through the hub")
    count, warm = (80, 10) if QUICK else (400, 40)
    out = {}
    for name, (base, token) in (("direct", (system.standin_url, EDGE_TOKEN)),
                                ("hub", (system.hub_cache.cluster_url("edge-cache"), USER_TOKEN))):
        with CpuMeter(system.pids()) as meter:
            s = bench_client("crud", "--url", base, "--token", token, "--namespace", BENCH_NS, "--count", str(count),
                             "--warmup", str(warm), "--samples-out", samples_file(f"crud-{name}"))
        s["cpu"] = meter.result
        if s["failures"]:
            raise RuntimeError(f"crud {name}: {s['failures']} failures")
        out[name] = s
        note(f"{name:7s} loop p50 {s['loop']['p50_us'] / 1000:.3f} ms  mean {s['loop']['mean_us'] / 1000:.3f} ms  " +
             "  ".join(f"{op} {s[op]['p50_us'] / 1000:.3f}" for op in ("create", "update", "delete")))
    d, h = out["direct"], out["hub"]
    ratio = h["loop"]["mean_us"] / d["loop"]["mean_us"]
    results.add("crud.loop", "create/update/delete loop: mean per loop", "ms", h["loop"]["mean_us"] / 1000,
                d["loop"]["mean_us"] / 1000, "direct", target_text="beat +46% (peer best)",
                meets=ratio < 1.46, note_text=f"+{(ratio - 1) * 100:.0f}% over direct; peers +46% and +143%")
    for op in ("create", "update", "delete"):
        results.add(f"crud.{op}.p50", f"{op} through the hub: p50", "ms", h[op]["p50_us"] / 1000,
                    d[op]["p50_us"] / 1000, "direct")
    results.details["crud"] = out
