"""Draining a hub of the fleet: its agents move to other hubs make-before-break, and users never
see a failed request.

PostgreSQL + metaserver + three hubs with peer links + three agents with one tunnel each, all
started on hub-1 (rebalancing off, so the topology is known) + one stand-in per cluster. A read
loop runs against every cluster through the hubs that stay while
1. an admin drains hub-1 (`kubehubctl hub drain`): every agent moves off it, with zero failed
   reads; `hub list` shows it draining until `hub undrain`;
2. a hub holding tunnels gets SIGTERM: it drains itself (its /readyz says so), every agent
   moves, it leaves the registry and exits 0; zero failed reads through the others."""
import http.client
import json
import os
import signal
import ssl
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
from hub_fleet_test import admin_get  # noqa: E402

EDGE_TOKEN = "drain-edge-token-0123456789"
CLUSTERS = ("edge-a", "edge-b", "edge-c")


class HubDrainTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workdir()
        cls.procs = []
        cls.platform = None
        try:
            cls._start()
        except BaseException:
            e2e.print_logs(cls.work, ("hub-1.log", "hub-2.log", "hub-3.log", "agent-edge-a.log"))
            cls.tearDownClass()
            raise

    @classmethod
    def _start(cls):
        w = cls.work
        cls.pki = e2e.Pki(w.join("pki"))
        cls.platform = p = e2e.Platform(w, cls.pki)
        p.ctl("tenant", "create", "ops")
        p.ctl("user", "create", "alice", "--tenant", "ops")
        for c in CLUSTERS:
            p.ctl("cluster", "create", c)
        p.ctl("grant", "create", "ops-all", "--tenant", "ops", "--clusters", "*", "--api-groups", "*",
              "--resources", "*", "--verbs", "*")
        agent_ca = p.ca_file()
        cls.hubs = [e2e.start_metaserver_hub(w, cls.pki, p, f"hub-{i}", agent_ca, peer=True,
                                             extra=["--rebalance-rate-milli", "0", "--drain-timeout", "20s"])
                    for i in (1, 2, 3)]
        cls.procs += [h.proc for h in cls.hubs]
        for cluster in CLUSTERS:
            standin, url = e2e.start_standin(w, cls.pki, EDGE_TOKEN, name=f"standin-{cluster}")
            cls.procs.append(standin)
            kc = e2e.write_kubeconfig(w.join(f"{cluster}-agent.kubeconfig"), url, cls.pki.ca_cert, token=EDGE_TOKEN)
            crt, key = p.agent_certificate(cluster)
            cls.procs.append(e2e.Process(
                [e2e.binary("kubehub-agent"), "--hub-url", f"wss://{cls.hubs[0].tunnel}/tunnel",
                 "--hub-connections", "1", "--tls-cert", crt, "--tls-key", key, "--hub-ca", cls.pki.ca_cert,
                 "--kubeconfig", kc, "--admin-listen", "127.0.0.1:0", "--backoff-base", "100ms",
                 "--backoff-max", "1s"],
                ready=r"tunnel up", log_path=w.join(f"agent-{cluster}.log"), timeout=40))
        for hub in cls.hubs:
            e2e.wait_until(lambda: all(cls.holders(hub, c) == ["hub-1"] for c in CLUSTERS), timeout=30,
                           what="every cluster on hub-1 in every routing table")
        cls.token = p.token("alice")

    @staticmethod
    def holders(hub, cluster):
        return json.loads(admin_get(hub, "/debug/peers")[1])["routes"].get(cluster, [])

    @staticmethod
    def clusters_on(hub):
        return sorted(c["cluster"] for c in json.loads(admin_get(hub, "/debug/clusters")[1])["clusters"])

    @classmethod
    def tearDownClass(cls):
        for proc in reversed(cls.procs):
            proc.kill()
        if cls.platform:
            cls.platform.close()
        if getattr(cls, "failed", False):
            e2e.print_logs(cls.work, ("hub-1.log", "hub-2.log", "hub-3.log", "agent-edge-a.log"))
        cls.work.close()

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            type(self).failed = True

    def get(self, hub, cluster):
        host, port = hub.users.rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), timeout=20,
                                           context=ssl.create_default_context(cafile=self.pki.ca_cert))
        try:
            conn.request("GET", f"/clusters/{cluster}/api/v1/namespaces/default/configmaps",
                         headers={"Authorization": f"Bearer {self.token}"})
            r = conn.getresponse()
            return r.status, r.read().decode(errors="replace")
        except OSError as e:
            return 0, str(e)
        finally:
            conn.close()

    def read_loop(self, entries):
        """Starts reading every cluster through `entries` round robin; returns (stop, results)."""
        stop = threading.Event()
        results = {"ok": 0, "failed": []}

        def run():
            i = 0
            while not stop.is_set():
                hub = entries[i % len(entries)]
                cluster = CLUSTERS[(i // len(entries)) % len(CLUSTERS)]
                i += 1
                status, body = self.get(hub, cluster)
                if status == 200:
                    results["ok"] += 1
                else:
                    results["failed"].append((cluster, status, body[:200]))
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return stop, results, thread

    def test_1_admin_drain_moves_every_agent_without_a_failed_read(self):
        stop, results, thread = self.read_loop(self.hubs)
        try:
            time.sleep(1)
            self.platform.ctl("hub", "drain", "hub-1", "--reason", "maintenance")
            e2e.wait_until(lambda: self.clusters_on(self.hubs[0]) == [], timeout=30,
                           what="every agent off hub-1")
            for hub in self.hubs:
                e2e.wait_until(lambda: all(self.holders(hub, c) and "hub-1" not in self.holders(hub, c)
                                           for c in CLUSTERS), timeout=10, what="routes without hub-1")
            time.sleep(1)
        finally:
            stop.set()
            thread.join(30)
        print(f"\nadmin drain: {results['ok']} reads ok, {len(results['failed'])} failed", file=sys.stderr)
        self.assertEqual(results["failed"], [])
        self.assertGreater(results["ok"], 30)
        hubs = {h["id"]: h for h in self.platform.ctl_json("hub", "list")["items"]}
        self.assertTrue(hubs["hub-1"]["draining"])
        self.assertEqual(hubs["hub-1"]["drainReason"], "maintenance")
        log = self.hubs[0].proc.log_text()
        self.assertIn("hub draining: asking its agents to move", log)
        for cluster in CLUSTERS:
            with open(self.work.join(f"agent-{cluster}.log")) as f:
                self.assertIn("tunnel moved", f.read(), cluster)
        # A drained hub takes no new tunnel while others can.
        self.platform.ctl("hub", "undrain", "hub-1")
        e2e.wait_until(lambda: not {h["id"]: h for h in self.platform.ctl_json("hub", "list")["items"]}
                       ["hub-1"]["draining"], timeout=5, what="hub-1 undrained")

    def test_2_sigterm_drains_leaves_the_registry_and_exits(self):
        # The hub holding the most tunnels now (after the admin drain, hub-2 or hub-3).
        victim = max(self.hubs[1:], key=lambda h: len(self.clusters_on(h)))
        others = [h for h in self.hubs if h is not victim]
        moving = self.clusters_on(victim)
        self.assertTrue(moving)
        victim_id = f"hub-{self.hubs.index(victim) + 1}"
        stop, results, thread = self.read_loop(others)
        try:
            time.sleep(1)
            victim.proc.proc.send_signal(signal.SIGTERM)
            e2e.wait_until(lambda: admin_get(victim, "/readyz")[0] == 503, timeout=5,
                           what="the leaving hub's /readyz saying so")
            code = victim.proc.proc.wait(30)
            self.assertEqual(code, 0)
            for hub in others:
                e2e.wait_until(lambda: all(self.holders(hub, c) and victim_id not in self.holders(hub, c)
                                           for c in CLUSTERS), timeout=10, what="routes without the hub")
            time.sleep(1)
        finally:
            stop.set()
            thread.join(30)
        print(f"\nSIGTERM drain: {results['ok']} reads ok, {len(results['failed'])} failed", file=sys.stderr)
        self.assertEqual(results["failed"], [])
        log = victim.proc.log_text()
        self.assertIn("draining before exit", log)
        self.assertIn("every agent moved; exiting", log)
        self.assertIn("left the registry", log)
        ids = [h["id"] for h in self.platform.ctl_json("hub", "list")["items"]]
        self.assertNotIn(victim_id, ids)


if __name__ == "__main__":
    unittest.main()
