"""Step 7, storm: N agents reconnecting at once after a hub restart."""
import os
import signal
import subprocess
import time

from .. import config as cfg
from ..config import POD, QUICK, STORM_AGENTS, USER_TOKEN, e2e
from ..console import note, say
from ..meters import CpuMeter
from ..clients import connected_agents, samples_file
from .agents import Swarm, SwarmHub, agent_ready, wait_connected, wait_count


def bench_storm(system, results):
    """7. N agents reconnecting at once after a hub restart."""
    n = STORM_AGENTS
    say(f"7. reconnect storm: {n:,} agents after a hub restart; a user's requests meanwhile")
    hub = SwarmHub(system.token_file, "hub-storm")
    swarm = None
    agent = None
    probe = None
    try:
        swarm = Swarm(hub, n, "storm-")
        wait_count(lambda: swarm.status().get("connected", -1), n, timeout=120 + n / 50)
        agent = e2e.Agent(cfg.WORK, cfg.PKI, "edge-storm", hub.hub, system.edge_kubeconfig)
        wait_connected(hub.admin, n + 1, timeout=60)
        user_url = f"https://127.0.0.1:{hub.ports['listen']}/clusters/edge-storm{POD}"
        # A user's GET every 100 ms, on a keep-alive connection re-established when the hub goes.
        probe_out = samples_file("storm-probe")
        probe_duration = 60 if QUICK else 180
        probe = subprocess.Popen([os.path.join(cfg.BIN, "kubehub-bench-client"), "requests", "--ca", cfg.PKI.ca_cert,
                                  "--url", user_url, "--token", USER_TOKEN, "--interval-ms", "100",
                                  "--duration", f"{probe_duration}s", "--warmup", "0", "--timeout", "10s",
                                  "--samples-out", probe_out], stdout=subprocess.PIPE, text=True)
        time.sleep(3.0)
        say("   restarting the hub (SIGTERM: GOAWAY to every agent; then a new hub on the same ports)")
        t_kill = time.monotonic()
        drops_before = swarm.status().get("drops", 0)
        hub.proc.stop()
        t_down = time.monotonic()
        # The agents' own view must show the outage before "back" can be measured.
        wait_count(lambda: swarm.status().get("drops", 0) - drops_before, n, timeout=60, interval=0.1)
        t_seen = time.monotonic()
        hub.start()
        t_up = time.monotonic()
        with CpuMeter({"hub": hub.pid, "swarm": swarm.proc.proc.pid}) as meter:
            # Back = every simulated agent has a tunnel again and the real agent is ready.
            back_seconds, timeline = wait_count(
                lambda: swarm.status().get("connected", -1) + (1 if agent_ready(agent) else 0), n + 1,
                timeout=300)
        t_back = t_up + back_seconds
        hub_count = connected_agents(hub.admin)
        if hub_count < n + 1:
            note(f"the hub counts {hub_count} agents where the agents count {n + 1}")
        note(f"hub stopped in {t_down - t_kill:.2f} s, every tunnel seen down after {t_seen - t_kill:.2f} s, "
             f"new hub up in {t_up - t_seen:.2f} s; "
             f"all {n + 1:,} agents back {back_seconds:.1f} s after the new hub was up")
        # Let the probe see a few seconds of the settled hub, then stop it.
        time.sleep(3.0)
        probe.send_signal(signal.SIGTERM)
        try:
            probe.wait(timeout=15)
        except subprocess.TimeoutExpired:
            probe.kill()
        samples = []
        with open(probe_out) as f:
            for line in f:
                t, us, status, fresh = line.split()
                samples.append((float(t), float(us), int(status), fresh == "1"))
        storm = [s for s in samples if t_up <= s[0] <= t_back]
        ok = sorted(s[1] for s in storm if s[2] == 200)
        answered = sorted(s[1] for s in storm if s[2] != 0)
        before = sorted(s[1] for s in samples if s[0] < t_kill and s[2] == 200)
        def pct(v, p):
            return v[min(len(v) - 1, int(p / 100 * (len(v) - 1) + 0.5))] if v else None
        storm_info = {"agents": n + 1, "seconds_to_all_back": back_seconds, "hub_count_at_end": hub_count, "hub_stop_seconds": t_down - t_kill,
                      "hub_start_seconds": t_up - t_seen, "all_down_seen_seconds": t_seen - t_kill, "timeline": timeline, "cpu": meter.result,
                      "swarm_status": swarm.status(),
                      "probe": {"requests_during_storm": len(storm), "ok": len(ok),
                                "answered": len(answered),
                                "statuses": {str(c): sum(1 for s in storm if s[2] == c) for c in {s[2] for s in storm}},
                                "ok_p50_us": pct(ok, 50), "ok_p99_us": pct(ok, 99), "ok_max_us": ok[-1] if ok else None,
                                "answered_p50_us": pct(answered, 50), "answered_p99_us": pct(answered, 99),
                                "answered_max_us": answered[-1] if answered else None,
                                "before_restart_p50_us": pct(before, 50), "before_restart_p99_us": pct(before, 99),
                                "samples": probe_out}}
        note(f"user GET during the storm: {len(ok)} of {len(storm)} answered 200; answered p50 "
             f"{(pct(answered, 50) or 0) / 1000:.2f} ms p99 {(pct(answered, 99) or 0) / 1000:.2f} ms "
             f"max {(answered[-1] if answered else 0) / 1000:.2f} ms (before the restart p50 "
             f"{(pct(before, 50) or 0) / 1000:.2f} ms)")
        results.add("storm.all_back", f"{n + 1:,} agents back after a hub restart", "s", back_seconds,
                    target=120, target_text="< 120 s")
        if answered:
            results.add("storm.user_p99", "user GET latency during the storm: p99", "ms", pct(answered, 99) / 1000,
                        (pct(before, 99) or 0) / 1000 or None, "before restart",
                        target_text="hub responsive", meets=pct(answered, 99) / 1000 < 1000)
        results.details["storm"] = storm_info
    finally:
        if probe and probe.poll() is None:
            probe.kill()
        if agent:
            agent.proc.stop()
        if swarm:
            swarm.stop()
        hub.proc.stop()
