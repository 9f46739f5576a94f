"""Step 6, agents: hub memory and CPU per idle simulated agent (kubehub-agent-swarm)."""
import json
import os
import re
import time

from .. import config as cfg
from ..config import AGENT_COUNTS, HUB_ARGS, QUICK, e2e
from ..console import note, say
from ..meters import CpuMeter, rss_bytes
from ..clients import admin_get, connected_agents


class SwarmHub:
    """A hub on fixed ports (so it can be restarted in place) for the simulated agents."""

    def __init__(self, token_file, name):
        self.ports = {k: e2e.free_port() for k in ("listen", "tunnel-listen", "admin-listen")}
        self.token_file = token_file
        self.name = name
        self.start()

    def start(self):
        extra = [f"--{k}=127.0.0.1:{p}" for k, p in self.ports.items()] + HUB_ARGS
        self.hub = e2e.Hub(cfg.WORK, cfg.PKI, self.token_file, name=self.name, extra=extra)
        self.proc = self.hub.proc
        self.pid = self.proc.proc.pid
        return self

    @property
    def admin(self):
        return self.hub.admin


class Swarm:
    def __init__(self, hub, count, prefix, ramp=128, threads=1):
        self.status_file = cfg.WORK.join(f"swarm-{prefix}status.json")
        if os.path.exists(self.status_file):
            os.remove(self.status_file)
        self.proc = e2e.Process([os.path.join(cfg.BIN, "kubehub-agent-swarm"), "--hub-url", f"wss://{hub.hub.tunnel}/tunnel",
                                 "--hub-ca", cfg.PKI.ca_cert, "--ca-cert", cfg.PKI.ca_cert, "--ca-key", cfg.PKI.ca_key,
                                 "--count", str(count), "--prefix", prefix, "--ramp-concurrency", str(ramp),
                                 "--threads", str(threads), "--status-file", self.status_file,
                                 "--status-interval", "500ms"],
                                ready=r"swarm prepared agents=\d+ seconds=([0-9.]+)",
                                log_path=cfg.WORK.join(f"swarm-{prefix}log"), timeout=300)
        self.prepare_seconds = float(self.proc.match.group(1))

    def status(self):
        try:
            with open(self.status_file) as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return {}

    def stop(self):
        self.proc.kill()


def wait_count(count, want, timeout, interval=0.25):
    """Polls count() until it reaches want; returns (seconds, [(t, count), ...])."""
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    timeline = []
    n = -1
    while time.monotonic() < deadline:
        try:
            n = count()
        except OSError:
            n = -1
        timeline.append((round(time.monotonic() - t0, 2), n))
        if n >= want:
            return time.monotonic() - t0, timeline
        time.sleep(interval)
    raise TimeoutError(f"only {n} of {want} agents connected after {timeout}s")


def wait_connected(admin, want, timeout):
    """The hub's own count (kubehub_hub_connected_agents). Each scrape renders every cluster's
    series, so poll it sparingly; the swarm's status file is the cheap signal."""
    return wait_count(lambda: connected_agents(admin), want, timeout, interval=1.0)


def agent_ready(agent):
    m = re.search(r'admin listening" address=(\S+)', agent.proc.log_text())
    if not m:
        return False
    try:
        status, _ = admin_get(m.group(1), "/readyz", timeout=5)
    except OSError:
        return False
    return status == 200


def bench_idle_agents(system, results):
    """6. N idle agents on one hub: hub RSS delta / N."""
    per_n = {}
    for n in AGENT_COUNTS:
        say(f"6. {n:,} idle simulated agents on one hub: memory per agent")
        hub = SwarmHub(system.token_file, f"hub-idle-{n}")
        try:
            time.sleep(1.0)
            rss0 = rss_bytes(hub.pid)
            swarm = Swarm(hub, n, f"idle{n}-")
            try:
                with CpuMeter({"hub": hub.pid, "swarm": swarm.proc.proc.pid}) as meter:
                    ramp_seconds, _ = wait_count(lambda: swarm.status().get("connected", -1), n,
                                                 timeout=120 + n / 50)
                wait_connected(hub.admin, n, timeout=60)
                rss_connected = rss_bytes(hub.pid)
                # Hold them through more than one heartbeat interval (15 s): pings and pongs touch
                # every tunnel's buffers, which is the steady state an idle fleet lives in.
                samples = []
                for _ in range(int(6 if QUICK else 18)):
                    time.sleep(1.0)
                    samples.append(rss_bytes(hub.pid))
                rss1 = samples[-1]
                t_scrape = time.monotonic()
                _, metrics_body = admin_get(hub.admin, "/metrics")
                scrape_seconds = time.monotonic() - t_scrape
                still = connected_agents(hub.admin)
                swarm_rss = rss_bytes(swarm.proc.proc.pid)
                st = swarm.status()
            finally:
                swarm.stop()
            # The hub hands the memory of closed tunnels back within seconds (a heap trim every
            # 5 s once enough closed): the lowest RSS over 15 s.
            rss_after_leave = rss_bytes(hub.pid)
            for _ in range(30):
                time.sleep(0.5)
                rss_after_leave = min(rss_after_leave, rss_bytes(hub.pid))
        finally:
            hub.proc.stop()
        per_agent = (rss1 - rss0) / n
        per_n[n] = {"agents": n, "hub_rss_before": rss0, "hub_rss_connected": rss_connected, "hub_rss_steady": rss1,
                    "hub_rss_samples": samples, "hub_rss_after_disconnect": rss_after_leave,
                    "per_agent_bytes": per_agent, "per_agent_bytes_at_connect": (rss_connected - rss0) / n,
                    "connected_at_end": still, "ramp_seconds": ramp_seconds,
                    "metrics_scrape_bytes": len(metrics_body), "metrics_scrape_seconds": scrape_seconds, "ramp_cpu": meter.result,
                    "swarm_rss": swarm_rss, "swarm_per_agent_bytes": swarm_rss / n, "swarm_status": st,
                    "certificates_seconds": swarm.prepare_seconds}
        note(f"connected in {ramp_seconds:.1f} s; hub RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MiB "
             f"= {per_agent / 1024:.1f} KiB/agent (at connect {(rss_connected - rss0) / n / 1024:.1f} KiB); "
             f"after they left {rss_after_leave / 2**20:.1f} MiB; swarm {swarm_rss / n / 1024:.1f} KiB/agent; "
             f"one /metrics scrape {len(metrics_body) / 1e6:.1f} MB in {scrape_seconds * 1000:.0f} ms")
        results.add(f"agents.{n}.per_agent", f"hub memory per idle agent (N={n:,})", "KiB", per_agent / 1024,
                    target=48, target_text="<= 48 KiB")
    results.details["idle_agents"] = per_n
