"""Step 8, fleet: three peering hubs, real agents: a peer hop, a hub killed, routes spreading."""
import datetime
import http.client
import json
import re
import ssl
import threading
import time
import urllib.parse

from .. import config as cfg
from ..config import EDGE_TOKEN, FLEET_CLUSTERS, HUB_ARGS, QUICK, e2e
from ..console import note, say
from ..meters import machine_busy_seconds, percentile, read_latency_samples
from ..clients import admin_get, bench_client, request, samples_file


FLEET_HUBS = ("hub-1", "hub-2", "hub-3")
# Short reconnect delays (the agent's defaults are 500 ms .. 30 s), as in the e2e tests.
FLEET_BACKOFF = ["--backoff-base", "100ms", "--backoff-max", "1s"]
# The benchmark's one tenant sends thousands of requests a second (the default bucket: 500/s).
FLEET_HUB_FLAGS = ["--tenant-rate-milli", "0"]
FLEET_SEED_PODS = 100
FLEET_POD = "/api/v1/namespaces/default/pods/bench-00001"
FLEET_SECRET = "fleet-secret"  # secrets are never cached: a GET of one goes through the tunnel
FLEET_SECRET_PATH = f"/api/v1/namespaces/default/secrets/{FLEET_SECRET}"
FLEET_PROBE_INTERVAL = 0.05  # seconds between two GETs of one cluster in the failover probes


def log_time(text, pattern):
    """Wall-clock seconds of the first log line matching `pattern` (ts=...Z, milliseconds)."""
    m = re.search(r"(?m)^ts=(\S+)Z .*" + pattern, text)
    if not m:
        return None
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def hub_routes(hub):
    """The routing table a hub holds (/debug/peers): cluster -> hubs holding its tunnel."""
    _, raw = admin_get(hub.admin, "/debug/peers", timeout=5)
    return json.loads(raw)["routes"]


def hub_tunnels(hub):
    """The clusters whose tunnels the hub itself holds (/debug/clusters)."""
    _, raw = admin_get(hub.admin, "/debug/clusters", timeout=5)
    return {c["cluster"] for c in json.loads(raw)["clusters"]}


class Fleet:
    """PostgreSQL + metaserver, three hubs with peer links (hub certificates from the metaserver's
    CA), one stand-in, and agents for FLEET_CLUSTERS clusters registered at the metaserver (their
    certificates from its CA through the bootstrap flow)."""

    def __init__(self):
        self.procs = []
        self.agents = {}
        say(f"8. fleet: PostgreSQL + metaserver, three peering hubs, {FLEET_CLUSTERS} clusters' agents")
        self.platform = p = e2e.Platform(cfg.WORK, cfg.PKI)
        try:
            p.ctl("tenant", "create", "bench")
            p.ctl("user", "create", "bench", "--tenant", "bench")
            p.ctl("grant", "create", "bench-all", "--tenant", "bench", "--user", "bench", "--clusters", "*",
                  "--api-groups", "*", "--resources", "*", "--verbs", "*")
            self.clusters = [f"fleet-{i:02d}" for i in range(FLEET_CLUSTERS)]
            for c in self.clusters:
                p.ctl("cluster", "create", c)
            self.agent_ca = p.ca_file()
            self.certs = {c: p.agent_certificate(c) for c in self.clusters}
            self.token = p.token("bench", ttl="2h")
            self.standin, self.standin_url = e2e.start_standin(
                cfg.WORK, cfg.PKI, EDGE_TOKEN, name="standin-fleet", extra=["--seed-pods", str(FLEET_SEED_PODS)])
            self.procs.append(self.standin)
            status, raw = request(self.standin_url, "/api/v1/namespaces/default/secrets", EDGE_TOKEN, method="POST",
                                  body={"apiVersion": "v1", "kind": "Secret",
                                        "metadata": {"name": FLEET_SECRET, "namespace": "default"},
                                        "data": {"k": "YmVuY2g="}})
            if status not in (201, 409):
                raise RuntimeError(f"creating the secret at the stand-in: HTTP {status} {raw[:200]!r}")
            self.kubeconfig = e2e.write_kubeconfig(cfg.WORK.join("fleet-edge.kubeconfig"), self.standin_url,
                                                   cfg.PKI.ca_cert, token=EDGE_TOKEN)
            self.hubs = {}
            for name in FLEET_HUBS:
                self.hubs[name] = e2e.start_metaserver_hub(cfg.WORK, cfg.PKI, p, name, self.agent_ca,
                                                           extra=[*FLEET_HUB_FLAGS, *HUB_ARGS], peer=True)
                self.hubs[name].name = name
        except BaseException:
            self.close()
            raise

    def start_agent(self, cluster, hubs, connections, tag, wait=True):
        crt, key = self.certs[cluster]
        args = [e2e.binary("kubehub-agent"), "--hub-url", ",".join(e2e.tunnel_url(h) for h in hubs),
                "--tls-cert", crt, "--tls-key", key, "--hub-ca", cfg.PKI.ca_cert, "--kubeconfig", self.kubeconfig,
                "--admin-listen", "127.0.0.1:0", *FLEET_BACKOFF, "--hub-connections", str(connections)]
        proc = e2e.Process(args, ready=r"tunnel up" if wait else None,
                           log_path=cfg.WORK.join(f"agent-{cluster}-{tag}.log"), timeout=60)
        self.agents[cluster] = proc
        return proc

    def stop_agents(self):
        for proc in self.agents.values():
            proc.stop()
        self.agents = {}

    def restart_hub(self, name, log_name):
        """A new process with the killed hub's command line (same id, new ports)."""
        old = self.hubs[name]
        hub = e2e.Hub.__new__(e2e.Hub)
        hub.name = name
        hub.proc = e2e.Process(old.proc.args, ready=r"hub started", log_path=cfg.WORK.join(f"{log_name}.log"))
        text = hub.proc.log_text()
        hub.users = re.search(r"users listening\" address=(\S+)", text).group(1)
        hub.tunnel = re.search(r"tunnel listening\" address=(\S+)", text).group(1)
        hub.admin = re.search(r"admin listening\" address=(\S+)", text).group(1)
        hub.peer = re.search(r"peers listening\" address=(\S+)", text).group(1)
        self.hubs[name] = hub
        e2e.wait_until(lambda: admin_get(hub.admin, "/readyz", timeout=5)[0] == 200, timeout=30,
                       what=f"{name} ready again")
        return hub

    def holders(self):
        """cluster -> the live hubs that hold its tunnel (each hub's /debug/clusters)."""
        out = {c: set() for c in self.clusters}
        for name, hub in self.live_hubs().items():
            for c in hub_tunnels(hub):
                if c in out:
                    out[c].add(name)
        return out

    def stale_routes(self):
        """Routes in a live hub's table that name a live hub not holding the cluster's tunnel
        (routes naming a dead hub last until its registration expires, 30 s: by design)."""
        live = self.live_hubs()
        holders = self.holders()
        out = {}
        for name, hub in live.items():
            for c, hs in hub_routes(hub).items():
                wrong = [h for h in hs if h in live and c in holders and h not in holders[c]]
                if wrong:
                    out.setdefault(name, {})[c] = wrong
        return out

    def live_hubs(self):
        return {n: h for n, h in self.hubs.items() if h.proc.proc.poll() is None}

    def wait_routes(self, want, timeout=60, what="routes"):
        """Until every live hub's table gives each cluster `want(cluster, hubs)`."""
        def ok():
            for hub in self.live_hubs().values():
                routes = hub_routes(hub)
                if not all(want(c, routes.get(c, [])) for c in self.clusters):
                    return False
            return True
        e2e.wait_until(ok, timeout=timeout, interval=0.1, what=what)

    def close(self):
        self.stop_agents()
        for hub in getattr(self, "hubs", {}).values():
            hub.proc.stop()
        for proc in reversed(self.procs):
            proc.stop()
        self.platform.close()


class FleetProbe:
    """One thread per cluster GETs `path` of its cluster every FLEET_PROBE_INTERVAL, taking turns
    over the entry hubs, each on its own keep-alive connection (reopened after an error).
    Records (start, end, entry, status, error) per request, monotonic seconds; status 0 = no
    answer (error says what the client saw)."""

    def __init__(self, fleet, clusters, entries, path):
        self.fleet = fleet
        self.entries = list(entries)  # hub names
        self.path = path
        self.samples = {c: [] for c in clusters}
        self.stop_event = threading.Event()
        self.ctx = ssl.create_default_context(cafile=cfg.PKI.ca_cert)
        self.threads = [threading.Thread(target=self._run, args=(c,), daemon=True) for c in clusters]
        for t in self.threads:
            t.start()

    def _run(self, cluster):
        conns = {}
        i = 0
        headers = {"Authorization": f"Bearer {self.fleet.token}", "Accept": "application/json"}
        while not self.stop_event.is_set():
            entry = self.entries[i % len(self.entries)]
            i += 1
            t0 = time.monotonic()
            status = 0
            error = ""
            try:
                conn = conns.get(entry)
                if conn is None:
                    host, port = self.fleet.hubs[entry].users.rsplit(":", 1)
                    conn = conns[entry] = http.client.HTTPSConnection(host, int(port), context=self.ctx, timeout=5)
                conn.request("GET", f"/clusters/{cluster}{self.path}", headers=headers)
                r = conn.getresponse()
                body = r.read()
                status = r.status
                if status != 200:
                    error = body[:300].decode(errors="replace")
                if r.will_close:
                    conns.pop(entry).close()
            except (OSError, http.client.HTTPException) as e:
                error = f"{type(e).__name__}: {e}"[:200]
                conn = conns.pop(entry, None)
                if conn:
                    conn.close()
            t1 = time.monotonic()
            self.samples[cluster].append((t0, t1, entry, status, error))
            delay = t0 + FLEET_PROBE_INTERVAL - time.monotonic()
            if delay > 0:
                self.stop_event.wait(delay)
        for conn in conns.values():
            conn.close()

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=15)

    def failures(self, clusters, t_from, t_to):
        """Requests of these clusters that ended in [t_from, t_to] without a 200: (cluster, start and
        end relative to t_from, entry, status, error)."""
        return [(c, round(s[0] - t_from, 3), round(s[1] - t_from, 3), s[2], s[3], s[4])
                for c in clusters for s in self.samples[c]
                if t_from <= s[1] <= t_to and s[3] != 200]

    def requests_between(self, clusters, t_from, t_to):
        return sum(1 for c in clusters for s in self.samples[c] if t_from <= s[1] <= t_to)

    def latency_ms(self, clusters, t_from, t_to):
        """p50 and p99 (ms) of the answered (200) GETs that ended in [t_from, t_to]."""
        ms = [(s[1] - s[0]) * 1000 for c in clusters for s in self.samples[c] if t_from <= s[1] <= t_to and s[3] == 200]
        return {"p50": percentile(ms, 50), "p99": percentile(ms, 99), "count": len(ms)}

    def recovered(self, cluster, t_kill):
        """Seconds from t_kill until a GET through every entry hub had succeeded after the last
        failure there (None: not yet). A GET that started before the kill does not count."""
        worst = 0.0
        for entry in self.entries:
            mine = [s for s in self.samples[cluster] if s[2] == entry and s[1] >= t_kill]
            last_fail = max((s[1] for s in mine if s[3] != 200), default=None)
            ok = [s for s in mine if s[3] == 200 and s[0] >= t_kill and (last_fail is None or s[0] >= last_fail)]
            if not ok:
                return None
            worst = max(worst, ok[0][1] - t_kill)
        return worst

    def wait_recovered(self, clusters, t_kill, settle=1.0, least=3.0, timeout=30):
        """Until every cluster recovered and no request failed for `settle` seconds, and at least
        `least` seconds after t_kill (routes change for a while after a kill); returns
        {cluster: seconds or None}."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            times = {c: self.recovered(c, t_kill) for c in clusters}
            now = time.monotonic()
            if (all(v is not None for v in times.values()) and not self.failures(clusters, now - settle, now)
                    and now - t_kill >= least):
                return times
            time.sleep(0.1)
        return {c: self.recovered(c, t_kill) for c in clusters}


def fleet_route_visibility(fleet, results, info):
    """Route change visibility: one agent at a time, its tunnel up on one hub (the hub's log line)
    until each other hub's /debug/peers lists the cluster (polled every 20 ms)."""
    say("8c. route change visibility: a tunnel comes up on one hub, the other hubs poll /debug/peers every 20 ms")
    hubs = list(fleet.hubs.values())
    samples = []
    for i, cluster in enumerate(fleet.clusters):
        owner = hubs[i % len(hubs)]
        others = [h for h in hubs if h is not owner]
        fleet.start_agent(cluster, [owner], 1, "single", wait=False)
        seen = {}
        deadline = time.monotonic() + 15
        while len(seen) < len(others) and time.monotonic() < deadline:
            tick = time.monotonic()
            for h in others:
                if h.name not in seen and cluster in hub_routes(h):
                    seen[h.name] = time.time()
            time.sleep(max(0.0, tick + 0.02 - time.monotonic()))
        t_up = e2e.wait_until(lambda: log_time(owner.proc.log_text(), rf'msg="tunnel up" cluster={cluster}\b'),
                              timeout=10, what=f"{cluster}'s tunnel up in {owner.name}'s log")
        entry = {"cluster": cluster, "owner": owner.name,
                 "visible_ms": {n: round((t - t_up) * 1000, 1) for n, t in seen.items()},
                 "missing": [h.name for h in others if h.name not in seen]}
        samples.append(entry)
    fleet.wait_routes(lambda c, hs: len(hs) == 1, what="one route per cluster on every hub")
    per_hub = [v for s in samples for v in s["visible_ms"].values()]
    per_cluster = [max(s["visible_ms"].values()) for s in samples if not s["missing"]]
    missing = [s["cluster"] for s in samples if s["missing"]]
    note(f"{len(samples)} clusters: visible on every other hub p50 {percentile(per_cluster, 50):.0f} ms, "
         f"max {max(per_cluster):.0f} ms (per hub p50 {percentile(per_hub, 50):.0f} ms); "
         f"never seen within 15 s: {missing or 'none'}")
    results.add("fleet.route_visible.p50", "fleet: tunnel up -> route on every other hub: p50", "ms",
                percentile(per_cluster, 50), note_text="poll every 20 ms")
    results.add("fleet.route_visible.max", f"fleet: tunnel up -> route on every other hub: max ({len(samples)} clusters)",
                "ms", max(per_cluster), target=500, target_text="< 500 ms",
                meets=max(per_cluster) < 500 and not missing)
    info["route_visibility"] = {"samples": samples, "poll_interval_ms": 20, "never_seen": missing,
                                "note": "from the owner hub's 'tunnel up' log time (milliseconds) to the first "
                                        "/debug/peers answer of another hub listing the cluster"}


def fleet_peer_hop(fleet, results, info):
    """Added latency of one peer hop: the same GET through the hub holding the tunnel and through
    another hub (one peer link), a cached object and a forwarded one."""
    cluster = fleet.clusters[0]
    owner, entry = fleet.hubs["hub-1"], fleet.hubs["hub-2"]
    if cluster not in hub_tunnels(owner):
        raise RuntimeError(f"{cluster}'s tunnel is not on hub-1")
    say(f"8a. one peer hop: GET through the hub holding {cluster}'s tunnel (hub-1) vs through hub-2")
    count, warm, rounds = (300, 50, 1) if QUICK else (750, 100, 4)
    out = {}
    for kind, path in (("cached", FLEET_POD + "?resourceVersion=0"), ("forwarded", FLEET_SECRET_PATH)):
        served = {}
        for via, hub in (("owner", owner), ("peer hop", entry)):
            u = urllib.parse.urlparse(hub.cluster_url(cluster))
            conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=10,
                                               context=ssl.create_default_context(cafile=cfg.PKI.ca_cert))
            try:
                conn.request("GET", u.path + path, headers={"Authorization": f"Bearer {fleet.token}"})
                r = conn.getresponse()
                r.read()
                served[via] = {"status": r.status, "served_from": r.getheader("X-Kubehub-Served-From")}
            finally:
                conn.close()
            if r.status != 200:
                raise RuntimeError(f"{kind} GET via {via}: HTTP {r.status}")
        samples = {"owner": [], "peer hop": []}
        runs = {"owner": [], "peer hop": []}
        for rnd in range(rounds):  # the two paths take turns: the machine's speed drifts
            for via, hub in (("owner", owner), ("peer hop", entry)):
                sf = samples_file(f"fleet-{kind}-{via.replace(' ', '_')}-{rnd}")
                s = bench_client("requests", "--url", hub.cluster_url(cluster) + path, "--token", fleet.token,
                                 "--count", str(count), "--warmup", str(warm), "--samples-out", sf)
                if s.get("errors") or s.get("non_200"):
                    raise RuntimeError(f"{kind} via {via}: {s}")
                runs[via].append(s)
                samples[via] += read_latency_samples(sf)
        stats = {via: {"p50_us": percentile(v, 50), "p99_us": percentile(v, 99), "count": len(v),
                       "served_from": served[via], "runs": runs[via]} for via, v in samples.items()}
        out[kind] = stats
        o, p = stats["owner"], stats["peer hop"]
        note(f"{kind:9s} owner p50 {o['p50_us'] / 1000:.3f} ms p99 {o['p99_us'] / 1000:.3f} ms; one peer hop p50 "
             f"{p['p50_us'] / 1000:.3f} ms p99 {p['p99_us'] / 1000:.3f} ms; added p50 "
             f"{(p['p50_us'] - o['p50_us']) / 1000:.3f} ms (X-Kubehub-Served-From: owner "
             f"{served['owner']['served_from']}, via peer {served['peer hop']['served_from']})")
        results.add(f"fleet.peer_hop.{kind}.p50", f"fleet: GET {kind} through one peer hop: p50", "ms",
                    p["p50_us"] / 1000, o["p50_us"] / 1000, "owner hub", target=o["p50_us"] / 1000 + 0.3,
                    target_text="<= +0.3 ms")
        results.add(f"fleet.peer_hop.{kind}.p99", f"fleet: GET {kind} through one peer hop: p99", "ms",
                    p["p99_us"] / 1000, o["p99_us"] / 1000, "owner hub")
    info["peer_hop"] = {"cluster": cluster, "owner": "hub-1", "entry": "hub-2", "agent_hub_connections": 1,
                        "paths": {"cached": FLEET_POD + "?resourceVersion=0", "forwarded": FLEET_SECRET_PATH},
                        "results": out}


def fleet_kill(fleet, connections):
    """SIGKILL one hub while every cluster is read through the others; returns when all reads
    work again. connections=1: the killed hub's clusters lose their only tunnel; 2: every
    cluster keeps one on a surviving hub."""
    tunnels = {name: hub_tunnels(h) for name, h in fleet.hubs.items()}
    victim = "hub-2" if connections == 1 else max(tunnels, key=lambda n: len(tunnels[n]))
    survivors = [n for n in fleet.hubs if n != victim]
    affected = sorted(tunnels[victim])
    # With a tunnel on a surviving hub as well (every cluster, with two tunnels each).
    covered = sorted(c for c in fleet.clusters if any(c in tunnels[s] for s in survivors))
    routes = {s: hub_routes(fleet.hubs[s]) for s in survivors}
    probe = FleetProbe(fleet, fleet.clusters, survivors, FLEET_SECRET_PATH)
    try:
        time.sleep(2.0)
        t_before = time.monotonic() - 2.0
        t_kill_wall = time.time()
        t_kill = time.monotonic()
        fleet.hubs[victim].proc.kill()  # SIGKILL
        note(f"killed {victim} (held {len(affected)} of {len(fleet.clusters)} clusters' tunnels); reading "
             f"every cluster through {' and '.join(survivors)} every {FLEET_PROBE_INTERVAL * 1000:.0f} ms")
        rec = probe.wait_recovered(fleet.clusters, t_kill)
        t_end = time.monotonic()
    finally:
        probe.stop()
    failed = probe.failures(fleet.clusters, t_kill, t_end)
    before = probe.failures(fleet.clusters, t_before, t_kill)
    agent_back = {}
    for c in affected:
        text = fleet.agents[c].log_text()
        ups = [m for m in re.finditer(r'(?m)^ts=(\S+)Z .*msg="tunnel up" hub_id=(\S+)', text)]
        for m in ups:
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            if t >= t_kill_wall and m.group(2) != victim:
                agent_back[c] = {"seconds": round(t - t_kill_wall, 3), "hub": m.group(2)}
                break
    return {"victim": victim, "survivors": survivors, "tunnels_before": {n: sorted(v) for n, v in tunnels.items()},
            "survivors_routes_before": routes,
            "affected": affected, "covered": covered, "recovered_seconds": rec, "failed": failed,
            "failed_before_kill": before, "requests_in_window": probe.requests_between(fleet.clusters, t_kill, t_end),
            "requests_before_kill": probe.requests_between(fleet.clusters, t_before, t_kill),
            "window_seconds": round(t_end - t_kill, 2), "agent_tunnel_up_after_kill": agent_back,
            "get_ms_before_kill": probe.latency_ms(fleet.clusters, t_before, t_kill),
            "get_ms_during_kill": probe.latency_ms(fleet.clusters, t_kill, t_end)}


def fleet_failover(fleet, results, info):
    """Hub killed (SIGKILL): (b) agents with one tunnel each (already running), then (a) agents
    with two."""
    n = len(fleet.clusters)
    say(f"8b. hub killed (SIGKILL), {n} agents with one tunnel each (--hub-connections 1)")
    one = fleet_kill(fleet, connections=1)
    times = [one["recovered_seconds"][c] for c in one["affected"]]
    lost = [c for c in one["affected"] if one["recovered_seconds"][c] is None]
    # A cluster not back by the end of the window counts as the window's length (a lower bound).
    back = [t if t is not None else one["window_seconds"] for t in times]
    others_failed = [f for f in one["failed"] if f[0] not in one["affected"]]
    note(f"{len(one['affected'])} clusters lost their tunnel: reachable through both surviving hubs again after "
         f"p50 {percentile(back, 50) or 0:.2f} s, p99 {percentile(back, 99) or 0:.2f} s, max {max(back or [0]):.2f} s"
         f"{f'; never within 30 s: {lost}' if lost else ''}; failed reads: {len(one['failed'])} "
         f"({len(others_failed)} of clusters whose tunnel was elsewhere); agents' tunnel up again after p50 "
         f"{percentile([a['seconds'] for a in one['agent_tunnel_up_after_kill'].values()], 50) or 0:.2f} s")
    if back:
        results.add("fleet.kill.one_tunnel.p50", "fleet: hub killed, 1 tunnel/agent: reads back via both survivors, p50", "s",
                    percentile(back, 50), note_text="--backoff-base 100ms --backoff-max 1s")
        results.add("fleet.kill.one_tunnel.p99",
                    f"fleet: hub killed, 1 tunnel/agent: reads back via both survivors, p99 ({len(one['affected'])} clusters)", "s",
                    percentile(back, 99), target=2, target_text="< 2 s", meets=percentile(back, 99) < 2 and not lost,
                    note_text="--backoff-base 100ms --backoff-max 1s; through every surviving hub" +
                              (f"; {len(lost)} never back (counted as {one['window_seconds']} s)" if lost else ""))
    results.add("fleet.kill.one_tunnel.others_failed", "fleet: hub killed: failed reads of clusters not on it",
                "reads", len(others_failed), len(one["failed_before_kill"]), "before the kill", target=0,
                target_text="0")
    info["kill_one_tunnel"] = one

    say("   restarting the killed hub; agents with two tunnels each (--hub-connections 2, every hub's URL given)")
    fleet.stop_agents()
    fleet.restart_hub(one["victim"], f"{one['victim']}-restarted")
    t_restart = time.monotonic()
    try:
        fleet.wait_routes(lambda c, hs: not hs, timeout=5, what="every route gone after the agents stopped")
    except TimeoutError:
        pass
    stale = fleet.stale_routes()
    if stale:
        note(f"routes of clusters without any agent, 5 s after the agents stopped (the killed hub's id, restarted): "
             f"{json.dumps(stale.get('hub-1', stale))}")
    hubs = list(fleet.hubs.values())
    for c in fleet.clusters:
        fleet.start_agent(c, hubs, 2, "double", wait=False)
    t0 = time.monotonic()
    e2e.wait_until(lambda: all(len(h) == 2 for h in fleet.holders().values()), timeout=90, interval=0.2,
                   what="two tunnels per cluster")
    holders = fleet.holders()
    fleet.wait_routes(lambda c, hs: holders[c] <= set(hs), what="every tunnel in every hub's table")
    note(f"{n} agents with two tunnels each after {time.monotonic() - t0:.1f} s")

    say(f"8b. hub killed (SIGKILL), {n} agents with two tunnels each (--hub-connections 2)")
    two = fleet_kill(fleet, connections=2)
    uncovered = [c for c in fleet.clusters if c not in two["covered"]]
    covered_failed = [f for f in two["failed"] if f[0] in two["covered"]]
    lost = [c for c, v in two["recovered_seconds"].items() if v is None]
    times = [v if v is not None else two["window_seconds"] for v in two["recovered_seconds"].values()]
    note(f"{len(two['affected'])} clusters had a tunnel on {two['victim']}; failed reads {len(two['failed'])} of "
         f"{two['requests_in_window']} in {two['window_seconds']} s ({len(covered_failed)} of clusters with a "
         f"tunnel on a surviving hub); every cluster read through both survivors after p50 "
         f"{percentile(times, 50) or 0:.3f} s, p99 {percentile(times, 99) or 0:.3f} s"
         f"{f'; never: {lost}' if lost else ''}{f'; without a second tunnel: {uncovered}' if uncovered else ''}")
    results.add("fleet.kill.two_tunnels.failed", "fleet: hub killed, 2 tunnels/agent: failed reads", "reads",
                len(covered_failed), len(two["failed_before_kill"]), "before the kill", target=0, target_text="0",
                note_text=f"{two['requests_in_window']} reads in {two['window_seconds']} s, "
                          f"{FLEET_PROBE_INTERVAL * 1000:.0f} ms apart per cluster")
    if times:
        results.add("fleet.kill.two_tunnels.p50", "fleet: hub killed, 2 tunnels/agent: reads ok via both survivors, p50", "s",
                    percentile(times, 50), note_text=f"resolution ~{2 * FLEET_PROBE_INTERVAL * 1000:.0f} ms")
        results.add("fleet.kill.two_tunnels.p99", "fleet: hub killed, 2 tunnels/agent: reads ok via both survivors, p99", "s",
                    percentile(times, 99), note_text=f"{len(lost)} never back (counted as the window)" if lost else None)
    during, before_ms = two["get_ms_during_kill"], two["get_ms_before_kill"]
    if during["p99"] is not None:
        note(f"user GET during the kill: p50 {during['p50']:.2f} ms, p99 {during['p99']:.2f} ms "
             f"({during['count']} answered); before it: p50 {before_ms['p50'] or 0:.2f} ms, "
             f"p99 {before_ms['p99'] or 0:.2f} ms")
        results.add("fleet.kill.two_tunnels.get_p99", "fleet: hub killed, 2 tunnels/agent: user GET p99 until recovered",
                    "ms", during["p99"], before_ms["p99"], "before the kill",
                    note_text=f"{during['count']} answered GETs through the surviving hubs")
    # How long until each cluster again has two tunnels, on the two surviving hubs.
    t_restore = time.monotonic()
    try:
        e2e.wait_until(lambda: all(len(h) == 2 for h in fleet.holders().values()), timeout=30, interval=0.2,
                       what="two tunnels per cluster on the surviving hubs")
        two["second_tunnel_back_seconds_after_recovery"] = round(time.monotonic() - t_restore, 2)
    except TimeoutError:
        two["second_tunnel_back_seconds_after_recovery"] = None
    info["kill_two_tunnels"] = two
    notes = info.setdefault("notes", [])
    in_flight = [f for f in covered_failed if "peer closed the connection" in f[5]]
    if in_flight:
        notes.append(f"{len(in_flight)} read(s) of clusters with a tunnel on a surviving hub failed with 503 'tunnel "
                     f"closed: peer closed the connection' within {max(f[2] for f in in_flight) * 1000:.0f} ms of the "
                     f"kill: the entry hub sent them over its peer link to {two['victim']} as it died and did not "
                     f"try the cluster's other owner")
    # A hub restarted under its id within the registry's TTL (30 s) keeps the routes its killed
    # predecessor held, and its heartbeats keep them: look again, long after the TTL.
    late = fleet.stale_routes()
    info["stale_routes"] = {
        "after_agents_stopped": stale, "at_end": late,
        "seconds_after_restart": round(time.monotonic() - t_restart, 1),
        "note": "routes naming a live hub that does not hold the cluster's tunnel; the killed hub was restarted "
                "under the same --hub-id within the metaserver's --registry-ttl"}
    if late:
        note(f"{time.monotonic() - t_restart:.0f} s after the restart, routes still name a hub without the tunnel: "
             f"{json.dumps(late.get('hub-1', late))}")
    if stale or late:
        notes.append("the killed hub, restarted under its --hub-id within the metaserver's --registry-ttl, kept "
                     "the routes its predecessor held (stale_routes): those clusters look held by it")


def bench_fleet(results):
    """8. hubs acting as one gateway: a peer hop's cost, a hub killed, routes spreading."""
    info = {"clusters": FLEET_CLUSTERS, "hubs": list(FLEET_HUBS), "agent_flags": FLEET_BACKOFF,
            "hub_flags": FLEET_HUB_FLAGS + HUB_ARGS,
            "seed_pods": FLEET_SEED_PODS, "probe_interval_ms": FLEET_PROBE_INTERVAL * 1000}
    results.details["fleet"] = info
    # The fleet's own processes come and go; what the whole machine did meanwhile tells whether
    # others' work shared the cores (200% = both busy).
    t0, busy0 = time.monotonic(), machine_busy_seconds()
    fleet = Fleet()
    try:
        fleet_route_visibility(fleet, results, info)
        fleet_peer_hop(fleet, results, info)
        fleet_failover(fleet, results, info)
    finally:
        fleet.close()
        info["seconds"] = round(time.monotonic() - t0, 1)
        info["machine_busy_percent"] = round(100 * (machine_busy_seconds() - busy0) / (time.monotonic() - t0), 1)
