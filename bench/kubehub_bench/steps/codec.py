"""Step 0, codec: encoding a 10,000-pod LIST in each wire format (kubehub-codec-bench)."""
import json
import subprocess

from ..config import QUICK, e2e
from ..console import note, say


def bench_codec(results):
    """0. the cache's encoders alone: a 10,000-pod LIST (real-shaped pods) in each format."""
    say("0. cache codec: encoding a 10,000-pod LIST in each format (Google Benchmark, one process)")
    out = subprocess.run([e2e.binary("kubehub-codec-bench"), "--benchmark_format=json",
                          f"--benchmark_min_time={0.2 if QUICK else 1}"],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"kubehub-codec-bench failed: {out.stderr[-2000:]}")
    runs = {b["name"]: b for b in json.loads(out.stdout)["benchmarks"]}

    def ms(name):
        b = runs[name]
        scale = {"ns": 1e-6, "us": 1e-3, "ms": 1, "s": 1e3}[b["time_unit"]]
        return b["real_time"] * scale
    baseline = ms("JsonItemsReparsed")
    for name, title in (("JsonItemsWithoutTypeMeta", "LIST JSON, items without kind (a real server's shape)"),
                        ("JsonItemsWithTypeMeta", "LIST JSON, items with kind (custom resources)"),
                        ("TableMetadata", "LIST as Table, PartialObjectMetadata rows"),
                        ("TableObject", "LIST as Table, full objects"),
                        ("WatchInitialEvents", "watch: 10,000 initial ADDED events")):
        note(f"{title:55s} {ms(name):8.1f} ms   (parsing every item: {baseline:.0f} ms)")
        results.add(f"codec.{name}", f"encode 10k pods: {title}", "ms", ms(name), baseline,
                    "parse+print per item", target=40 if name == "JsonItemsWithoutTypeMeta" else None,
                    target_text="<= 40 ms" if name == "JsonItemsWithoutTypeMeta" else None)
    note(f"taking the edge's 10,000-row Table into the cache: {ms('IngestEdgeTable'):.0f} ms (once per relist)")
    results.add("codec.ingest", "ingest the edge's 10k-pod Table LIST (per relist)", "ms", ms("IngestEdgeTable"))
    results.details["codec"] = runs

    # The pure hot paths beside their baselines (kubehub-hotpath-bench).
    out = subprocess.run([e2e.binary("kubehub-hotpath-bench"), "--benchmark_format=json",
                          f"--benchmark_min_time={0.1 if QUICK else 0.5}"],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"kubehub-hotpath-bench failed: {out.stderr[-2000:]}")
    micro = {b["name"]: b for b in json.loads(out.stdout)["benchmarks"]}

    def ns(name):
        b = micro[name]
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
        return b["cpu_time"] * scale
    for name, title, base, base_text in (
            ("LabelSelectorMatch", "label selector match, one object", "LabelSelectorParseAndMatch",
             "parse + match"),
            ("FrameEncodeDecodeData", "32 KiB DATA frame encoded + decoded", "CopyData",
             "one copy of 32 KiB"),
            ("PlanCachedList", "plan a tenant's cached LIST", "SplitClusterPath",
             "split the path alone")):
        note(f"{title:55s} {ns(name):8.0f} ns   ({base_text}: {ns(base):.0f} ns)")
        results.add(f"micro.{name}", title, "ns", ns(name), ns(base), base_text)
    results.details["micro"] = micro
