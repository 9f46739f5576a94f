"""Step 9, hedge: consistent LISTs of a quiet type on a churning edge, with and without the hedge."""
import time

from .. import config as cfg
from ..config import EDGE_TOKEN, HUB_ARGS, QUICK, USER_TOKEN, e2e
from ..console import note, say
from ..clients import bench_client, cache_waits

HEDGE_PODS = 1000
HEDGE_PATH = "/api/v1/pods"


def bench_hedge(results):
    """9. A consistent LIST whose store is behind the edge (the Leases moved it, the pods did not)
    goes to the edge as well after --cache-hedge-after; without the hedge it waited the whole
    --cache-consistency-timeout each time the store moved. One stand-in (1,000 pods, Leases every
    100 ms, bookmarks every 1 s so that the store moves often), two caching hubs in front of it
    (hedging after 2 ms, the default; and never: hedge-after = timeout = 100 ms), rounds of paced
    consistent LISTs taking turns with the stand-in direct."""
    say("9. consistent LISTs of a store behind a churning edge: hedged vs waiting for the cache")
    procs = []
    try:
        standin, url = e2e.start_standin(cfg.WORK, cfg.PKI, EDGE_TOKEN, name="standin-hedge", extra=[
            "--node-lease-renew", "100ms", "--bookmark-interval", "1s", "--seed-pods", str(HEDGE_PODS)])
        procs.append(standin)
        tokens = e2e.write_token_file(cfg.WORK.join("hedge-tokens.csv"), [(USER_TOKEN, "bench", "bench-uid", [])])
        kubeconfig = e2e.write_kubeconfig(cfg.WORK.join("hedge-agent.kubeconfig"), url, cfg.PKI.ca_cert,
                                          token=EDGE_TOKEN)
        paths = {"direct": (url + HEDGE_PATH, EDGE_TOKEN)}
        hubs = {}
        for name, extra in (("hedged", []), ("no hedge", ["--cache-hedge-after", "100ms"])):
            tag = name.replace(" ", "-")
            hub = e2e.Hub(cfg.WORK, cfg.PKI, tokens, name=f"hub-hedge-{tag}",
                          extra=["--cache-resources", "pods", "--cache-consistency-timeout", "100ms", *extra, *HUB_ARGS])
            procs.append(hub.proc)
            agent = e2e.Agent(cfg.WORK, cfg.PKI, "edge-hedge", hub, kubeconfig, name=f"agent-hedge-{tag}")
            procs.append(agent.proc)
            hub.wait_discovered("edge-hedge")
            e2e.wait_until(lambda: bench_client("requests", "--url", hub.cluster_url("edge-hedge") + HEDGE_PATH +
                                                "?resourceVersion=0", "--token", USER_TOKEN, "--count", "1",
                                                "--warmup", "0").get("served_from", {}).get("cache"),
                           timeout=60, what=f"pods cached at the {name} hub")
            hubs[name] = hub
            paths[name] = (hub.cluster_url("edge-hedge") + HEDGE_PATH, USER_TOKEN)
        rounds, count = (2, 40) if QUICK else (3, 150)
        runs = {name: [] for name in paths}
        for r in range(rounds):
            for name, (target, token) in paths.items():
                s = bench_client("requests", "--url", target, "--token", token, "--count", str(count),
                                 "--warmup", "5", "--interval-ms", "20")
                if s.get("errors") or s.get("non_200"):
                    raise RuntimeError(f"hedge {name}: {s}")
                runs[name].append(s)
                note(f"round {r} {name:9s} p50 {s['p50_us'] / 1000:7.2f} ms  p99 {s['p99_us'] / 1000:7.2f} ms  "
                     f"max {s['max_us'] / 1000:7.2f} ms  served {s.get('served_from')}")
        waits = {name: cache_waits(hub.admin) for name, hub in hubs.items()}
        for name, w in waits.items():
            note(f"{name}: " + ", ".join(f"{o} {int(v.get('count', 0))} ({v.get('sum_s', 0) * 1000:.0f} ms waited)"
                                          for o, v in w.items() if v.get("count")))

        def worst(name, key):
            return max(s[key] for s in runs[name]) / 1000

        for key, label in (("p50_us", "p50"), ("p99_us", "p99")):
            results.add(f"hedge.{label}", f"consistent LIST of 1,000 pods, store often behind, hedged: {label}",
                        "ms", worst("hedged", key), worst("no hedge", key), "the same without the hedge",
                        note_text=f"direct {worst('direct', key):.1f} ms (worst round each)")
        results.details["hedge"] = {"runs": runs, "cache_waits": waits, "pods": HEDGE_PODS,
                                    "started": time.time()}
    finally:
        for p in reversed(procs):
            p.kill()
