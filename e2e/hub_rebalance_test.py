"""Hubs added to a running fleet take load: agents spread gradually, with no failed request.

PostgreSQL + metaserver + hub-1 with six agents (one tunnel each, all on hub-1, one shared
stand-in as their API server); then hub-2 and hub-3 join. hub-1, over its fair share, asks a few
settled agents at a time to move (rebalancing at 5 a second, tunnels settle after 1 s here);
each moves make-before-break. A read loop through the new hubs runs all along."""
import http.client
import json
import os
import ssl
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
from hub_fleet_test import admin_get, metric  # noqa: E402

EDGE_TOKEN = "rebalance-edge-token-0123456789"
CLUSTERS = tuple(f"edge-{i}" for i in range(1, 7))
HUB_FLAGS = ["--rebalance-rate-milli", "5000", "--rebalance-settle", "1s"]


class HubRebalanceTest(unittest.TestCase):
    def setUp(self):
        self.work = e2e.Workdir()
        self.procs = []
        self.platform = None
        try:
            self._start()
        except BaseException:
            e2e.print_logs(self.work, ("hub-1.log", "metaserver.log"))
            self.close()
            raise
        self.addCleanup(self.close)

    def _start(self):
        w = self.work
        self.pki = e2e.Pki(w.join("pki"))
        self.platform = p = e2e.Platform(w, self.pki)
        p.ctl("tenant", "create", "ops")
        p.ctl("user", "create", "alice", "--tenant", "ops")
        for c in CLUSTERS:
            p.ctl("cluster", "create", c)
        p.ctl("grant", "create", "ops-all", "--tenant", "ops", "--clusters", "*", "--api-groups", "*",
              "--resources", "*", "--verbs", "*")
        self.agent_ca = p.ca_file()
        self.hubs = [e2e.start_metaserver_hub(w, self.pki, p, "hub-1", self.agent_ca, peer=True, extra=HUB_FLAGS)]
        self.procs.append(self.hubs[0].proc)
        standin, url = e2e.start_standin(w, self.pki, EDGE_TOKEN)
        self.procs.append(standin)
        kc = e2e.write_kubeconfig(w.join("agent.kubeconfig"), url, self.pki.ca_cert, token=EDGE_TOKEN)
        for cluster in CLUSTERS:
            crt, key = p.agent_certificate(cluster)
            self.procs.append(e2e.Process(
                [e2e.binary("kubehub-agent"), "--hub-url", f"wss://{self.hubs[0].tunnel}/tunnel",
                 "--hub-connections", "1", "--tls-cert", crt, "--tls-key", key, "--hub-ca", self.pki.ca_cert,
                 "--kubeconfig", kc, "--admin-listen", "127.0.0.1:0", "--backoff-base", "100ms",
                 "--backoff-max", "1s"],
                ready=r"tunnel up", log_path=w.join(f"agent-{cluster}.log"), timeout=40))
        e2e.wait_until(lambda: len(self.clusters_on(self.hubs[0])) == len(CLUSTERS), timeout=30,
                       what="every agent on hub-1")
        self.token = p.token("alice")

    def close(self):
        for proc in reversed(self.procs):
            proc.kill()
        if self.platform:
            self.platform.close()
        self.work.close()

    @staticmethod
    def clusters_on(hub):
        return [c["cluster"] for c in json.loads(admin_get(hub, "/debug/clusters")[1])["clusters"]]

    def get(self, hub, cluster):
        host, port = hub.users.rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), timeout=20,
                                           context=ssl.create_default_context(cafile=self.pki.ca_cert))
        try:
            conn.request("GET", f"/clusters/{cluster}/api/v1/namespaces",
                         headers={"Authorization": f"Bearer {self.token}"})
            r = conn.getresponse()
            return r.status, r.read().decode(errors="replace")
        except OSError as e:
            return 0, str(e)
        finally:
            conn.close()

    def test_added_hubs_take_agents_gradually_without_a_failed_request(self):
        for i in (2, 3):
            hub = e2e.start_metaserver_hub(self.work, self.pki, self.platform, f"hub-{i}", self.agent_ca,
                                           peer=True, extra=HUB_FLAGS)
            self.procs.append(hub.proc)
            self.hubs.append(hub)
        stop = threading.Event()
        results = {"ok": 0, "failed": []}

        def reads():
            i = 0
            while not stop.is_set():
                hub = self.hubs[1 + i % 2]
                cluster = CLUSTERS[i % len(CLUSTERS)]
                i += 1
                status, body = self.get(hub, cluster)
                if status == 200:
                    results["ok"] += 1
                else:
                    results["failed"].append((cluster, status, body[:600]))
        thread = threading.Thread(target=reads, daemon=True)
        thread.start()
        try:
            def spread():
                counts = [len(self.clusters_on(h)) for h in self.hubs]
                return sum(counts) == len(CLUSTERS) and counts[0] <= 3 and counts[1] > 0 and counts[2] > 0
            try:
                e2e.wait_until(spread, timeout=40, what="agents spread over the three hubs")
            except TimeoutError:
                agents = ""
                for c in CLUSTERS:
                    with open(self.work.join(f"agent-{c}.log")) as f:
                        agents += "".join(l for l in f if "move" in l or "tunnel up" in l)
                raise AssertionError(f"agents not spread: {[self.clusters_on(h) for h in self.hubs]}\n"
                                     + agents)
        finally:
            stop.set()
            thread.join(30)
        counts = [len(self.clusters_on(h)) for h in self.hubs]
        moves = metric(admin_get(self.hubs[0], "/metrics")[1], "kubehub_hub_agent_moves_requested_total",
                       reason="rebalancing")
        print(f"\nrebalanced to {counts}; {moves:.0f} moves asked; {results['ok']} reads ok, "
              f"{len(results['failed'])} failed", file=sys.stderr)
        self.assertEqual(results["failed"], [], "\n".join(json.loads(b).get("message", b) if b.startswith("{")
                                                            else b for _, _, b in results["failed"]))
        # Gradual and bounded: hub-1 asked only its excess over the fair share (2 each), so it
        # keeps agents of its own and no hub ends far over the share.
        self.assertLessEqual(moves, 4)
        self.assertGreaterEqual(counts[0], 2)
        self.assertLessEqual(max(counts), 3)
        self.assertIn("rebalancing", self.hubs[0].proc.log_text())


if __name__ == "__main__":
    unittest.main()
