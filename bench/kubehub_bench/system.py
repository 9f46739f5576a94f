"""The system under test of steps 1-7: the stand-in with 10,000 pods, a forwarding hub and a
caching hub, each with a real agent."""
import time

from . import config as cfg
from .config import BENCH_NS, EDGE_TOKEN, HUB_ARGS, SEED_PODS, USER_TOKEN, e2e
from .console import note, say
from .meters import rss_bytes
from .clients import cache_types, request


class System:
    """Stand-in, a forwarding hub + agent, a caching hub + agent."""

    def __init__(self):
        self.procs = []
        say(f"starting the stand-in with {SEED_PODS:,} pods, a forwarding hub and a caching hub, each with an agent")
        self.standin, self.standin_url = e2e.start_standin(cfg.WORK, cfg.PKI, EDGE_TOKEN,
                                                           extra=["--seed-pods", str(SEED_PODS),
                                                                  # a real cluster's kubelets
                                                                  "--node-lease-renew", "10s"])
        self.procs.append(self.standin)
        self.edge_kubeconfig = e2e.write_kubeconfig(cfg.WORK.join("edge.kubeconfig"), self.standin_url, cfg.PKI.ca_cert,
                                                    token=EDGE_TOKEN)
        self.token_file = e2e.write_token_file(cfg.WORK.join("tokens.csv"),
                                               [(USER_TOKEN, "bench", "bench-uid", ["system:masters"])])
        status, _ = request(self.standin_url, "/api/v1/namespaces", EDGE_TOKEN, method="POST",
                            body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": BENCH_NS}})
        if status not in (201, 409):
            raise RuntimeError(f"creating namespace {BENCH_NS} at the stand-in: HTTP {status}")

        self.hub_fwd = e2e.Hub(cfg.WORK, cfg.PKI, self.token_file, name="hub-forward",
                               extra=["--cache-resources", "none", *HUB_ARGS])
        self.procs.append(self.hub_fwd.proc)
        self.agent_fwd = e2e.Agent(cfg.WORK, cfg.PKI, "edge-forward", self.hub_fwd, self.edge_kubeconfig)
        self.procs.append(self.agent_fwd.proc)
        self.hub_fwd.wait_discovered("edge-forward")

        self.hub_cache = e2e.Hub(cfg.WORK, cfg.PKI, self.token_file, name="hub-cache", extra=HUB_ARGS)
        self.procs.append(self.hub_cache.proc)
        time.sleep(1.0)
        self.cache_rss_before = rss_bytes(self.hub_cache.proc.proc.pid)
        t0 = time.monotonic()
        self.agent_cache = e2e.Agent(cfg.WORK, cfg.PKI, "edge-cache", self.hub_cache, self.edge_kubeconfig)
        self.procs.append(self.agent_cache.proc)
        self.hub_cache.wait_discovered("edge-cache")
        e2e.wait_until(self.cache_synced, timeout=180, interval=0.1, what="the hub cache to sync")
        self.cache_sync_seconds = time.monotonic() - t0
        note(f"cache synced in {self.cache_sync_seconds:.2f} s (agent start to every type synced)")

        self.endpoints = {
            "direct": (self.standin_url, EDGE_TOKEN, ""),
            "forward": (self.hub_fwd.cluster_url("edge-forward"), USER_TOKEN, ""),
            "cache rv=0": (self.hub_cache.cluster_url("edge-cache"), USER_TOKEN, "resourceVersion=0"),
            "cache rv unset": (self.hub_cache.cluster_url("edge-cache"), USER_TOKEN, ""),
        }

    def cache_synced(self):
        types = cache_types(self.hub_cache.admin)
        pods = [t for t in types if t["resource"] == "pods"]
        return types and all(t["synced"] for t in types) and pods and pods[0]["objects"] >= SEED_PODS

    def pids(self):
        return {"standin": self.standin.proc.pid, "hub-forward": self.hub_fwd.proc.proc.pid,
                "agent-forward": self.agent_fwd.proc.proc.pid, "hub-cache": self.hub_cache.proc.proc.pid,
                "agent-cache": self.agent_cache.proc.proc.pid}

    def url(self, name, path):
        base, token, query = self.endpoints[name]
        sep = "&" if "?" in path else "?"
        return base + path + (sep + query if query else ""), token

    def stop_hubs(self):
        for p in reversed(self.procs):
            if p is not self.standin:
                p.stop()
        self.procs = [self.standin]

    def close(self):
        for p in reversed(self.procs):
            p.stop()
        self.procs = []
