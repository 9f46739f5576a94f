"""Faults that must lose nothing: the agent's link blackholed for longer than the tunnel's idle
timeout and then restored (the tunnel is replaced and the cache's watches resume from their
resourceVersion without a relist, then converge on the edge object by object); the edge's
history lost meanwhile (exactly the types that need it relist); the link cut in the middle of a
100 MB log stream and an exec (the clients see an end, and no stream is left open on the hub,
the agent or the edge); PostgreSQL and the metaserver killed with SIGKILL during traffic and
restarted (the hub keeps serving issued tokens and honours revocations made before, and every
write the metaserver acknowledged is still there).

The link runs through a TCP relay of the harness (lib/relay.py) between the agent and the hub's
tunnel port."""
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
from fleet import FleetTestCase, ReadLoop  # noqa: E402
from relay import Relay  # noqa: E402

USER_TOKEN = "faults-user-token-0123456789"
EDGE_TOKEN = "faults-edge-token-0123456789"
CLUSTER = "edge-1"
LOG_BYTES = int(os.environ.get("KUBEHUB_E2E_FAULT_LOG_MB", "100")) * 1024 * 1024
FIGURES = []


def tearDownModule():
    for line in FIGURES:
        print("FIGURE " + line, file=sys.stderr)


class LinkFaultTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workdir()
        cls.procs = []
        cls.relay = None
        try:
            cls.pki = e2e.Pki(cls.work.join("pki"))
            cls.standin, cls.standin_url = e2e.start_standin(
                cls.work, cls.pki, EDGE_TOKEN, extra=["--bookmark-interval", "500ms", "--seed-pods", "200"])
            cls.procs.append(cls.standin)
            tokens = e2e.write_token_file(cls.work.join("tokens.csv"), [(USER_TOKEN, "dana", "u-4", [])])
            # A short heartbeat, so that a dead link is noticed in about a second on both sides
            # (the agent takes the hub's interval and gives up after three missed pings).
            cls.hub = e2e.Hub(cls.work, cls.pki, tokens, extra=[
                "--ping-interval", "300ms", "--tunnel-idle-timeout", "1s",
                "--cache-bookmark-interval", "500ms"])
            cls.procs.append(cls.hub.proc)
            host, port = cls.hub.tunnel.rsplit(":", 1)
            cls.relay = Relay(host, int(port))
            agent_kc = e2e.write_kubeconfig(cls.work.join("agent.kubeconfig"), cls.standin_url,
                                            cls.pki.ca_cert, token=EDGE_TOKEN)
            # One connection: an agent's second one keeps redialling the same hub (which refuses
            # it), and such a dial, accepted by the relay just before a blackhole and held by it,
            # could become the new tunnel without the relay accepting anything new.
            cls.agent = e2e.Agent(cls.work, cls.pki, CLUSTER, f"wss://{cls.relay.address}/tunnel", agent_kc,
                                  extra=["--hub-connections", "1"])
            cls.procs.append(cls.agent.proc)
            cls.hub.wait_discovered(CLUSTER)
            cls.via = e2e.write_kubeconfig(cls.work.join("hub.kubeconfig"), cls.hub.cluster_url(CLUSTER),
                                           cls.pki.ca_cert, token=USER_TOKEN)
            e2e.wait_until(lambda: all(t["synced"] and t["live"] for t in cls.cache_types().values()),
                           timeout=30, what="every cached type synced and live")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.relay is not None:
            cls.relay.close()
        for p in reversed(cls.procs):
            p.kill()
        if getattr(cls, "failed", False):
            e2e.print_logs(cls.work, ["hub.log", f"agent-{CLUSTER}.log", "standin.log"], tail=6000)
        cls.work.close()

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            type(self).failed = True

    # Helpers.
    @classmethod
    def cache_types(cls):
        status, body = e2e.https_json(f"http://{cls.hub.admin}/debug/cache")
        if status != 200:
            raise AssertionError(f"/debug/cache answered {status}")
        return {t["resource"]: t for t in body["types"]}

    def lists(self):
        """kubehub_hub_cache_lists_total by resource, for the cluster."""
        text = e2e.metrics_text(self.hub.admin)
        out = {}
        for line in text.splitlines():
            if line.startswith("kubehub_hub_cache_lists_total{") and f'cluster="{CLUSTER}"' in line:
                resource = line.split('resource="', 1)[1].split('"', 1)[0]
                out[resource] = float(line.rsplit(" ", 1)[1])
        return out

    def hub_metric(self, name, labels=None):
        return e2e.metric_total(self.hub.admin, name, labels) or 0

    def edge(self, method, path, body=None):
        status, doc = e2e.https_json(self.standin_url + path, EDGE_TOKEN, self.pki.ca_cert,
                                     method=method, body=body)
        self.assertLess(status, 300, f"{method} {path} at the edge: {status} {doc}")
        return doc

    def through_hub(self, path):
        status, doc = e2e.https_json(self.hub.cluster_url(CLUSTER) + path, USER_TOKEN, self.pki.ca_cert)
        self.assertEqual(status, 200, f"GET {path} through the hub: {doc}")
        return doc

    def objects(self, doc):
        return {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in doc["items"]}

    def cached_paths(self):
        """The list path of every type the hub caches for the cluster."""
        paths = []
        for name, t in sorted(self.cache_types().items()):
            resource, _, group = name.partition(".")
            paths.append(f"/apis/{group}/{t['version']}/{resource}" if group else f"/api/{t['version']}/{resource}")
        self.assertIn("/api/v1/configmaps", paths)
        return paths

    def assert_converges(self, resources, timeout=30):
        """The cached LIST of each resource (resourceVersion=0) equals the edge's, object by
        object, within `timeout`."""
        for path in resources:
            def same():
                cached = self.objects(self.through_hub(path + "?resourceVersion=0"))
                direct = self.objects(self.edge("GET", path))
                if cached.keys() != direct.keys():
                    return False
                return all(json.dumps(cached[k], sort_keys=True) == json.dumps(direct[k], sort_keys=True)
                           for k in direct)
            e2e.wait_until(same, timeout=timeout, interval=0.2, what=f"the cache of {path} equal to the edge")

    def blackhole_until_down(self):
        """Blackholes the link; returns once the hub dropped the tunnel."""
        down = self.hub_metric("kubehub_hub_tunnel_down_total")
        started = time.monotonic()
        # The agent's redials are accepted (and held) while blackholed: count from here.
        self.accepted_before = self.relay.accepted
        self.relay.blackhole()
        e2e.wait_until(lambda: self.hub_metric("kubehub_hub_tunnel_down_total") > down, timeout=15,
                       what="the hub dropping the blackholed tunnel")
        return time.monotonic() - started

    def restore_until_live(self):
        up = self.hub_metric("kubehub_hub_tunnel_up_total")
        started = time.monotonic()
        self.relay.restore()
        e2e.wait_until(lambda: self.hub_metric("kubehub_hub_tunnel_up_total") > up, timeout=30,
                       what="a new tunnel through the restored link")
        self.assertGreater(self.relay.accepted, self.accepted_before, "the new tunnel came through the relay")
        e2e.wait_until(lambda: all(t["live"] for t in self.cache_types().values()), timeout=30,
                       what="every cached type live again")
        return time.monotonic() - started

    def open_watch(self, path, events):
        """A watch through the hub as the user; events are appended as they come. Returns the
        connection (close it to end the watch)."""
        import http.client
        import ssl
        host, port = self.hub.users.rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), timeout=120,
                                           context=ssl.create_default_context(cafile=self.pki.ca_cert))
        conn.request("GET", f"/clusters/{CLUSTER}{path}", headers={"Authorization": f"Bearer {USER_TOKEN}"})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)

        def read():
            try:
                for line in resp:
                    if line.strip():
                        events.append(json.loads(line))
            except (OSError, ValueError, AttributeError):
                pass
        threading.Thread(target=read, daemon=True).start()
        return conn

    def edge_changes(self, tag):
        """Creates, updates and deletes at the edge: configmaps and pods."""
        for i in range(20):
            self.edge("POST", "/api/v1/namespaces/default/configmaps",
                      {"metadata": {"name": f"{tag}-{i}", "labels": {"fault": tag}}, "data": {"i": str(i)}})
        for i in range(0, 20, 3):
            self.edge("PUT", f"/api/v1/namespaces/default/configmaps/{tag}-{i}",
                      {"metadata": {"name": f"{tag}-{i}", "labels": {"fault": tag, "updated": "yes"}},
                       "data": {"i": str(i), "more": "x"}})
        for i in range(1, 20, 4):
            self.edge("DELETE", f"/api/v1/namespaces/default/configmaps/{tag}-{i}")
        pods = self.edge("GET", "/api/v1/pods?limit=6")["items"]
        for p in pods[:3]:
            self.edge("DELETE", f"/api/v1/namespaces/{p['metadata']['namespace']}/pods/{p['metadata']['name']}")

    # Scenarios (run in this order: each leaves the link up).
    def test_1_blackholed_link_resumes_watches_without_a_relist(self):
        lists_before = self.lists()
        self.assertTrue(lists_before and all(v >= 1 for v in lists_before.values()), lists_before)
        # A user's watch, open through the hub across the outage, keeps its stream and gets
        # every change made at the edge meanwhile, in order, once the link is back.
        start_rv = self.through_hub("/api/v1/namespaces/default/configmaps?limit=1")["metadata"]["resourceVersion"]
        events = []
        watch = self.open_watch(f"/api/v1/namespaces/default/configmaps?watch=1&labelSelector=fault%3Dbh"
                                f"&resourceVersion={start_rv}&allowWatchBookmarks=false", events)
        try:
            took_down = self.blackhole_until_down()
            self.edge_changes("bh")
            time.sleep(1.5)  # longer than both sides' idle timeouts again: nothing half-alive left
            took_up = self.restore_until_live()
            # Every cached type, not only those changed: a resumed watch loses nothing anywhere.
            self.assert_converges(self.cached_paths())
            e2e.wait_until(lambda: len(events) >= 32, timeout=20, what="32 watch events")
        finally:
            watch.close()
        kinds = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
        self.assertEqual(sum(1 for t, _ in kinds if t == "ADDED"), 20, kinds)
        self.assertEqual(sum(1 for t, _ in kinds if t == "MODIFIED"), 7, kinds)
        self.assertEqual(sum(1 for t, _ in kinds if t == "DELETED"), 5, kinds)
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
        self.assertEqual(rvs, sorted(rvs), "events in resourceVersion order")
        self.assertEqual(self.lists(), lists_before,
                         "a tunnel that came back resumed every watch from its resourceVersion: no LIST")
        FIGURES.append(f"blackholed link: tunnel dropped {took_down:.1f}s after the blackhole, replaced "
                       f"{took_up:.1f}s after the restore; relists: 0")

    def test_2_history_lost_during_the_outage_relists_what_needs_it(self):
        lists_before = self.lists()
        self.blackhole_until_down()
        self.edge_changes("gone")
        self.edge("POST", "/standin/compact")
        self.restore_until_live()
        self.assert_converges(self.cached_paths())
        after = self.lists()
        # The edge forgot every resourceVersion before the compaction, so each watch got 410 and
        # its type was listed again, once.
        for resource in after:
            self.assertEqual(after[resource], lists_before[resource] + 1, f"{resource}: {lists_before} -> {after}")
        unchanged = [r for r in after if after[r] == lists_before[r]]
        FIGURES.append(f"edge history compacted during an outage: relisted "
                       f"{sorted(r for r in after if after[r] != lists_before[r])}, resumed {sorted(unchanged)}")

    def open_streams(self):
        """(users' requests in flight through the hub's tunnels, upgraded streams on the agent,
        exec sessions at the edge)."""
        status, stats = e2e.https_json(self.standin_url + "/standin/stats", EDGE_TOKEN, self.pki.ca_cert)
        self.assertEqual(status, 200)
        return (self.hub_metric("kubehub_hub_active_streams"),
                e2e.metric_total(self.agent.admin(), "kubehub_agent_upgraded_streams") or 0,
                stats["sessions"]["exec"])

    def test_3_link_cut_during_a_log_stream_and_an_exec(self):
        self.edge("POST", "/api/v1/namespaces/default/pods",
                  {"metadata": {"name": "big-log", "annotations": {"standin.kubehub.io/log-bytes": str(LOG_BYTES)}},
                   "spec": {"containers": [{"name": "app", "image": "app"}]}})
        env = {**os.environ, "HOME": self.work.path}
        e2e.wait_until(lambda: self.open_streams() == (0, 0, 0), timeout=30, what="nothing open before")
        rss_before = e2e.rss_bytes(self.hub.proc.proc.pid), e2e.rss_bytes(self.agent.proc.proc.pid)
        logs = subprocess.Popen(["kubectl", "--kubeconfig", self.via, "logs", "-n", "default", "big-log"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        cat = subprocess.Popen(["kubectl", "--kubeconfig", self.via, "exec", "-i", "-n", "default", "big-log",
                                "--", "cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
        got = [0]
        echoed = []
        try:
            def drain():
                while True:
                    chunk = logs.stdout.read1(1 << 20)
                    if not chunk:
                        return
                    got[0] += len(chunk)
            reader = threading.Thread(target=drain, daemon=True)
            reader.start()
            threading.Thread(target=lambda: echoed.append(cat.stdout.readline()), daemon=True).start()
            cat.stdin.write(b"before the cut\n")
            cat.stdin.flush()
            e2e.wait_until(lambda: echoed, timeout=30, what="cat answering through the hub")
            if echoed[0] != b"before the cut\n":
                # Say why kubectl gave up: its exit status and what it wrote.
                try:
                    rc = cat.wait(10)
                except subprocess.TimeoutExpired:
                    rc = None
                err = cat.stderr.read().decode(errors="replace") if rc is not None else "(still running)"
                self.fail(f"kubectl exec echoed {echoed[0]!r}; exit {rc}; stderr: {err[-2000:]}")
            e2e.wait_until(lambda: got[0] >= 8 << 20, timeout=30, what="8 MB of the log")
            cut_at = got[0]
            # The live tunnel, and any connection of the earlier outages still half-closed.
            self.assertGreaterEqual(self.relay.cut(), 1, "the tunnel went through the relay")
            cut = time.monotonic()
            # Both clients end (they cannot continue: the tunnel that carried them is gone).
            logs_rc = logs.wait(30)
            reader.join(10)
            cat.stdin.close()
            cat_rc = cat.wait(30)
            ended = time.monotonic() - cut
            self.assertLess(got[0], LOG_BYTES, "the log was cut, so it cannot be complete")
            logs_err = logs.stderr.read().decode(errors="replace")
            cat_err = cat.stderr.read().decode(errors="replace")
            # A truncated log must not look complete: kubectl reports the broken stream.
            self.assertNotEqual(logs_rc, 0, f"kubectl logs exited 0 on a cut stream after {got[0]} bytes")
            self.assertNotEqual(cat_rc, 0, f"kubectl exec exited 0 on a cut stream: {cat_err}")
            # Nothing left open anywhere, and the memory the streams used is given back.
            e2e.wait_until(lambda: self.open_streams() == (0, 0, 0), timeout=30,
                           what="no stream left on the hub, the agent or the edge")
            rss_after = e2e.rss_bytes(self.hub.proc.proc.pid), e2e.rss_bytes(self.agent.proc.proc.pid)
            for who, before, after in zip(("hub", "agent"), rss_before, rss_after):
                self.assertLess(after - before, 64 << 20, f"{who} kept {(after - before) >> 20} MB after the cut")
            FIGURES.append(f"link cut after {cut_at >> 20} MB of a {LOG_BYTES >> 20} MB log and during an exec: "
                           f"kubectl logs exited {logs_rc} and exec {cat_rc} {ended:.1f}s later; "
                           f"RSS change hub {(rss_after[0] - rss_before[0]) >> 10} KiB, agent "
                           f"{(rss_after[1] - rss_before[1]) >> 10} KiB; logs said: {logs_err.strip()[-160:]!r}")
        finally:
            for p in (logs, cat):
                if p.poll() is None:
                    p.kill()
                p.wait(10)
        # The tunnel comes back and the same log is whole again.
        e2e.wait_until(lambda: self.hub_metric("kubehub_hub_cluster_connected", {"cluster": CLUSTER}) == 1,
                       timeout=30, what="the tunnel back")
        out = subprocess.run(["kubectl", "--kubeconfig", self.via, "logs", "-n", "default", "big-log",
                              "--limit-bytes", "1000"], capture_output=True, env=env, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(len(out.stdout), 1000)


IDLE_CONNECTIONS = int(os.environ.get("KUBEHUB_E2E_IDLE_CONNECTIONS", "10000"))
SLOWLORIS_CONNECTIONS = int(os.environ.get("KUBEHUB_E2E_SLOWLORIS_CONNECTIONS", "300"))


class ConnectionFloodTest(unittest.TestCase):
    """A slowloris (hundreds of connections trickling a request head) and 10,000 idle TLS
    connections on the users' endpoint of a hub with its default limits: a normal request is
    still answered, and the hub's memory stays bounded. The flood comes from other loopback
    addresses than the normal client's (127.0.0.N, each under the per-client limit), as from
    many machines."""

    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workdir()
        cls.procs = []
        try:
            cls.pki = e2e.Pki(cls.work.join("pki"))
            cls.standin, cls.standin_url = e2e.start_standin(cls.work, cls.pki, EDGE_TOKEN)
            cls.procs.append(cls.standin)
            tokens = e2e.write_token_file(cls.work.join("tokens.csv"), [(USER_TOKEN, "dana", "u-4", [])])
            # The default limits, with the descriptor limit most hosts give a service.
            cls.hub = e2e.Hub(cls.work, cls.pki, tokens, prefix=["prlimit", "--nofile=20000:20000"])
            cls.procs.append(cls.hub.proc)
            agent_kc = e2e.write_kubeconfig(cls.work.join("agent.kubeconfig"), cls.standin_url,
                                            cls.pki.ca_cert, token=EDGE_TOKEN)
            cls.procs.append(e2e.Agent(cls.work, cls.pki, CLUSTER, cls.hub, agent_kc).proc)
            cls.hub.wait_discovered(CLUSTER)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.procs):
            p.kill()
        if getattr(cls, "failed", False):
            e2e.print_logs(cls.work, ["hub.log"], tail=6000)
        cls.work.close()

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            type(self).failed = True

    def normal_requests(self, count):
        """`count` GETs, each on a new connection as a new kubectl's; returns their latencies
        (seconds). Each must answer 200."""
        got = e2e.fresh_connection_gets(self.hub.users, self.pki.ca_cert,
                                        f"/clusters/{CLUSTER}/api/v1/namespaces/default/configmaps", USER_TOKEN, count)
        for _, status in got:
            self.assertTrue(status.startswith("HTTP/1.1 200"), status)
        return [took for took, _ in got]

    def test_slowloris_and_ten_thousand_idle_connections(self):
        pid = self.hub.proc.proc.pid
        baseline = statistics.median(self.normal_requests(30))
        rss_before = e2e.rss_bytes(pid)
        flood_conns = e2e.ConnectionFlood(self.hub.users, self.pki.ca_cert, f"/clusters/{CLUSTER}/api/v1/namespaces",
                                          idle=IDLE_CONNECTIONS, slowloris=SLOWLORIS_CONNECTIONS)
        try:
            flood_conns.start()
            opened, errors, opened_in = flood_conns.opened_idle, flood_conns.errors, flood_conns.opened_seconds
            flood = self.hub_metrics()
            rss_flood = e2e.rss_bytes(pid)
            during = self.normal_requests(30)
            rss_peak = max(rss_flood, e2e.rss_bytes(pid))
            after = self.hub_metrics()
        finally:
            flood_conns.close()
        self.assertIsNone(self.hub.proc.proc.poll(), "the hub died")
        held = flood["kubehub_hub_user_connections"]
        limit = 10000
        # The flood happened: (nearly) every idle connection completed its TLS handshake, and
        # the hub held about as many as it may.
        self.assertGreaterEqual(opened, IDLE_CONNECTIONS - 50, errors[:5])
        # (The hub closes a connection that sends nothing for 120 s: opening them all must take
        # less than that for the count to mean anything.)
        self.assertGreaterEqual(held, 0.9 * min(limit, IDLE_CONNECTIONS),
                                f"{flood}; opening took {opened_in:.0f} s")
        # Not starved: a hub that served others only once slow headers timed out or idle
        # connections were shed would take seconds. A generous bound against the baseline of
        # this run (the figure itself is printed below), not a speed target.
        p50 = statistics.median(during)
        self.assertLess(p50, max(5 * baseline, baseline + 0.25),
                        f"normal GET p50 {p50 * 1000:.0f} ms during the flood, {baseline * 1000:.0f} ms before")
        # Bounded: never more connections than the limit (plus the few being shed), and the
        # memory they hold is what that many connections cost, not more.
        self.assertLessEqual(held, limit + 64, flood)
        per_connection = (rss_peak - rss_before) / max(held, 1)
        self.assertLess(per_connection, 192 * 1024, f"{per_connection / 1024:.0f} KiB per held connection")
        FIGURES.append(
            f"{opened} idle TLS connections (opened in {opened_in:.1f}s, {len(errors)} failed) and "
            f"{SLOWLORIS_CONNECTIONS} slowloris: {held:.0f} held (limit {limit}), "
            f"{after['shed']:.0f} idle ones shed to make room; normal GET p50 {statistics.median(during) * 1000:.1f} ms "
            f"vs {baseline * 1000:.1f} ms before ({statistics.median(during) / baseline:.2f}x), max "
            f"{max(during) * 1000:.0f} ms; hub RSS {rss_before >> 20} -> {rss_peak >> 20} MB "
            f"({per_connection / 1024:.0f} KiB per connection)")
        # Everything is given back once the flood is over.
        e2e.wait_until(lambda: self.hub_metrics()["kubehub_hub_user_connections"] <= 2, timeout=60,
                       what="the flood's connections closed")
        self.normal_requests(3)

    def hub_metrics(self):
        return {"kubehub_hub_user_connections": e2e.metric_total(self.hub.admin, "kubehub_hub_user_connections") or 0,
                "shed": e2e.metric_total(self.hub.admin, "kubehub_hub_user_connections_refused_total",
                                         {"reason": "idle_shed"}) or 0}


class MetaserverCrashTest(FleetTestCase):
    @classmethod
    def start_fleet(cls, fleet):
        fleet.start_platform()
        fleet.admit(["edge-1"])
        cls.hub = fleet.start_hub("hub-1", peer=False)
        fleet.start_agent("edge-1", cls.hub)
        cls.hub.wait_discovered("edge-1")

    def status(self, token):
        try:
            return self.fleet.request(self.hub, "GET", "/clusters/edge-1/api/v1/namespaces/default/configmaps",
                                      token)[0]
        except OSError:
            return 0

    def test_postgres_and_metaserver_killed_during_traffic(self):
        p = self.fleet.platform
        # A revoked token, refused at the hub before the crash; a token the hub has never seen.
        revoked = p.token("alice")
        self.assertEqual(self.status(revoked), 200)
        revoked_id = json.loads(p.ctl("whoami", "-o", "json", token=revoked).stdout)["tokenId"]
        p.ctl("token", "revoke", revoked_id)
        e2e.wait_until(lambda: self.status(revoked) == 401, timeout=10, what="the revocation at the hub")
        unseen = p.token("alice")

        acknowledged, refused = [], [0]
        stop = threading.Event()

        def writer():
            i = 0
            while not stop.is_set():
                i += 1
                name = f"writer-{i}"
                r = p.ctl("user", "create", name, "--tenant", "ops", check=False)
                if r.returncode == 0:
                    acknowledged.append(name)
                else:
                    refused[0] += 1
                    time.sleep(0.05)
        threads = [threading.Thread(target=writer, daemon=True)]
        with ReadLoop(self.fleet, [(self.hub, "edge-1")]) as reads:
            threads[0].start()
            e2e.wait_until(lambda: len(acknowledged) >= 5, timeout=30, what="writes acknowledged before the crash")
            # SIGKILL: the postmaster (its backends go with it) and the metaserver.
            with open(os.path.join(p.pg.data, "postmaster.pid")) as f:
                os.kill(int(f.readline()), 9)
            p.meta.proc.kill()
            crashed = time.monotonic()
            log_mark = len(self.hub.proc.log_text())
            before_crash = len(acknowledged)
            time.sleep(2)
            # Meanwhile the hub keeps going on what it holds: keys, grants, revocations.
            self.assertEqual(self.status(self.fleet.token), 200)
            self.assertEqual(self.status(unseen), 200, "a token issued before the crash, first used after it")
            self.assertEqual(self.status(revoked), 401, "a revocation made before the crash")
            # PostgreSQL recovers; the metaserver comes back on the same address.
            p.pg.start()
            args = list(p.meta.args)
            args[args.index("--listen") + 1] = p.meta.api
            p.meta.proc = e2e.Process(args, ready=r"metaserver started", log_path=self.fleet.work.join("metaserver.log"))
            e2e.wait_until(lambda: len(acknowledged) >= before_crash + 5, timeout=60,
                           what="writes acknowledged again after the restart")
            back = time.monotonic() - crashed
            stop.set()
            threads[0].join(60)
        self.assertEqual(reads.failed, [], f"reads through the hub during the crash: {reads}")
        self.assertGreater(reads.ok, 0)
        users = {u["name"] for u in p.ctl_json("user", "list").get("items", [])}
        lost = [n for n in acknowledged if n not in users]
        self.assertEqual(lost, [], f"{len(lost)} of {len(acknowledged)} acknowledged writes lost")
        self.assertEqual(self.status(revoked), 401)
        status, _, _ = p.meta.request("GET", "/api/v1/whoami", token=revoked)
        self.assertEqual(status, 401, "the metaserver still refuses the revoked token")
        # The hub follows the restarted metaserver again (its change feed or, meanwhile, polling):
        # a revocation made now reaches it too.
        unseen_id = json.loads(p.ctl("whoami", "-o", "json", token=unseen).stdout)["tokenId"]
        p.ctl("token", "revoke", unseen_id)
        e2e.wait_until(lambda: self.status(unseen) == 401, timeout=15,
                       what="a revocation made after the restart, at the hub")
        self.hub.proc.wait_for_log(r"following the metaserver's change feed", timeout=15, start=log_mark)
        FIGURES.append(f"PostgreSQL and metaserver SIGKILLed: {reads.ok} reads through the hub, none failed; "
                       f"{len(acknowledged)} writes acknowledged, none lost; {refused[0]} refused while down; "
                       f"writes acknowledged again {back:.1f}s after the crash")


if __name__ == "__main__":
    unittest.main()
