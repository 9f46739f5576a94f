"""Step 10, flood: a user's GET while 10,000 idle TLS connections and a slowloris hold the
users' endpoint."""
import statistics
import time

from .. import config as cfg
from ..config import EDGE_TOKEN, HUB_ARGS, QUICK, USER_TOKEN, e2e
from ..console import note, say
from ..clients import bench_client
from ..meters import percentile, rss_bytes

FLOOD_CLUSTER = "edge-flood"
FLOOD_PATH = "/api/v1/namespaces/default/configmaps"


def bench_flood(results):
    """10. A hub with its default limits (and the descriptor limit a service usually gets, 20,000)
    in front of a stand-in; a user's GETs, on one keep-alive connection (`kubehub-bench-client`)
    and each on a new TLS connection (as new kubectl processes), before and while 10,000 idle TLS
    connections (from 40 loopback addresses, each under the per-client limit) and 300 slowloris
    connections (a request line, then a header byte a second) are held open; the hub's memory per
    held connection."""
    idle, slowloris = (2000, 100) if QUICK else (10000, 300)
    say(f"10. a user's GET during a flood of {idle:,} idle TLS connections and {slowloris} slowloris")
    procs = []
    try:
        standin, url = e2e.start_standin(cfg.WORK, cfg.PKI, EDGE_TOKEN, name="standin-flood")
        procs.append(standin)
        tokens = e2e.write_token_file(cfg.WORK.join("flood-tokens.csv"), [(USER_TOKEN, "bench", "bench-uid", [])])
        kubeconfig = e2e.write_kubeconfig(cfg.WORK.join("flood-agent.kubeconfig"), url, cfg.PKI.ca_cert,
                                          token=EDGE_TOKEN)
        hub = e2e.Hub(cfg.WORK, cfg.PKI, tokens, name="hub-flood", extra=list(HUB_ARGS),
                      prefix=["prlimit", "--nofile=20000:20000"])
        procs.append(hub.proc)
        procs.append(e2e.Agent(cfg.WORK, cfg.PKI, FLOOD_CLUSTER, hub, kubeconfig, name="agent-flood").proc)
        hub.wait_discovered(FLOOD_CLUSTER)
        pid = hub.proc.proc.pid
        path = f"/clusters/{FLOOD_CLUSTER}{FLOOD_PATH}"

        def measure(label):
            kept = bench_client("requests", "--url", hub.cluster_url(FLOOD_CLUSTER) + FLOOD_PATH, "--token",
                                USER_TOKEN, "--count", "300" if QUICK else "1000", "--warmup", "20",
                                "--interval-ms", "5")
            if kept.get("errors") or kept.get("non_200"):
                raise RuntimeError(f"flood {label}: keep-alive GETs failed: {kept}")
            fresh = e2e.fresh_connection_gets(hub.users, cfg.PKI.ca_cert, path, USER_TOKEN, 50 if QUICK else 200)
            bad = [s for _, s in fresh if not s.startswith("HTTP/1.1 200")]
            if bad:
                raise RuntimeError(f"flood {label}: GETs on new connections answered {bad[:3]}")
            took = sorted(t * 1000 for t, _ in fresh)
            figures = {"keepalive_p50_ms": kept["p50_us"] / 1000, "keepalive_p99_ms": kept["p99_us"] / 1000,
                       "fresh_p50_ms": statistics.median(took), "fresh_p99_ms": percentile(took, 99)}
            note(f"{label:7s} keep-alive GET p50 {figures['keepalive_p50_ms']:.2f} ms p99 "
                 f"{figures['keepalive_p99_ms']:.2f} ms; GET on a new connection p50 {figures['fresh_p50_ms']:.2f} ms "
                 f"p99 {figures['fresh_p99_ms']:.2f} ms")
            return figures

        before = measure("before")
        rss_before = rss_bytes(pid)
        flood = e2e.ConnectionFlood(hub.users, cfg.PKI.ca_cert, path, idle=idle, slowloris=slowloris)
        try:
            flood.start()
            held = e2e.metric_total(hub.admin, "kubehub_hub_user_connections") or 0
            rss_flood = rss_bytes(pid)
            during = measure("during")
            rss_peak = max(rss_flood, rss_bytes(pid))
            shed = e2e.metric_total(hub.admin, "kubehub_hub_user_connections_refused_total",
                                    {"reason": "idle_shed"}) or 0
        finally:
            flood.close()
        if hub.proc.proc.poll() is not None:
            raise RuntimeError("the hub died during the flood")
        per_connection_kib = (rss_peak - rss_before) / max(held, 1) / 1024
        note(f"{flood.opened_idle:,} idle connections opened in {flood.opened_seconds:.1f} s ({len(flood.errors)} "
             f"failed), {flood.held_slowloris} slowloris; the hub held {held:,.0f} and shed {shed:,.0f} idle ones; RSS "
             f"{rss_before >> 20} -> {rss_peak >> 20} MB ({per_connection_kib:.1f} KiB per held connection)")
        for key, title in (("keepalive_p50_ms", "keep-alive GET: p50"), ("keepalive_p99_ms", "keep-alive GET: p99"),
                           ("fresh_p50_ms", "GET on a new TLS connection: p50"),
                           ("fresh_p99_ms", "GET on a new TLS connection: p99")):
            results.add(f"flood.{key[:-3]}", f"during a flood of idle and slowloris connections, {title}", "ms",
                        during[key], before[key], "before the flood")
        results.add("flood.memory_per_connection", "hub memory per held connection during the flood", "KiB",
                    per_connection_kib, note_text=f"{held:,.0f} held")
        results.details["flood"] = {"idle": idle, "slowloris": slowloris, "opened": flood.opened_idle, "slowloris_held": flood.held_slowloris,
                                    "open_errors": flood.errors[:10], "opened_seconds": flood.opened_seconds,
                                    "held": held, "shed": shed, "rss_before": rss_before, "rss_peak": rss_peak,
                                    "before": before, "during": during, "started": time.time()}
    finally:
        for p in reversed(procs):
            p.kill()
