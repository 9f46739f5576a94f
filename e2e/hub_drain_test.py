"""Draining a hub of the fleet: its agents move to other hubs make-before-break, and users never
see a failed request.

PostgreSQL + metaserver + three hubs with peer links + three agents with one tunnel each, all
started on hub-1 (rebalancing off, so the topology is known) + one stand-in per cluster. A read
loop runs against every cluster through the hubs that stay while
1. an admin drains hub-1 (`kubehubctl hub drain`): every agent moves off it, with zero failed
   reads; `hub list` shows it draining until `hub undrain`;
2. a hub holding tunnels gets SIGTERM: it drains itself (its /readyz says so), every agent
   moves, it leaves the registry and exits 0; zero failed reads through the others."""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
from fleet import FleetTestCase, ReadLoop, admin_get, clusters_on, holders, metric, rounds  # noqa: E402

CLUSTERS = ("edge-a", "edge-b", "edge-c")


class HubDrainTest(FleetTestCase):
    @classmethod
    def start_fleet(cls, fleet):
        fleet.start_platform()
        fleet.admit(CLUSTERS)
        fleet.start_hubs(3, extra=["--rebalance-rate-milli", "0", "--drain-timeout", "20s"])
        for cluster in CLUSTERS:
            fleet.start_agent(cluster, fleet.hubs[0], connections=1)
        for hub in fleet.hubs:
            e2e.wait_until(lambda: all(holders(hub, c) == ["hub-1"] for c in CLUSTERS), timeout=30,
                           what="every cluster on hub-1 in every routing table")

    def test_1_admin_drain_moves_every_agent_without_a_failed_read(self):
        platform = self.fleet.platform
        with ReadLoop(self.fleet, rounds(self.hubs, CLUSTERS)) as reads:
            time.sleep(1)
            platform.ctl("hub", "drain", "hub-1", "--reason", "maintenance")
            e2e.wait_until(lambda: clusters_on(self.hubs[0]) == [], timeout=30,
                           what="every agent off hub-1")
            for hub in self.hubs:
                e2e.wait_until(lambda: all(holders(hub, c) and "hub-1" not in holders(hub, c)
                                           for c in CLUSTERS), timeout=10, what="routes without hub-1")
            time.sleep(1)
        print(f"\nadmin drain: {reads}", file=sys.stderr)
        self.assertEqual(reads.failed, [])
        self.assertGreater(reads.ok, 30)
        hubs = {h["id"]: h for h in platform.ctl_json("hub", "list")["items"]}
        self.assertTrue(hubs["hub-1"]["draining"])
        self.assertEqual(hubs["hub-1"]["drainReason"], "maintenance")
        log = self.hubs[0].proc.log_text()
        self.assertIn("hub draining: asking its agents to move", log)
        for cluster in CLUSTERS:
            self.assertIn("tunnel moved", self.fleet.agents[cluster].proc.log_text(), cluster)
        self.assertEqual(metric(self.hubs[0], "kubehub_hub_draining"), 1)
        self.assertGreaterEqual(metric(self.hubs[0], "kubehub_hub_agent_moves_requested_total",
                                       reason="draining"), len(CLUSTERS))
        # A drained hub takes no new tunnel while others can: an agent that knows only hub-1 is
        # told to connect to another hub.
        platform.ctl("cluster", "create", "edge-late")
        crt, key = platform.agent_certificate("edge-late")
        late = e2e.Process([e2e.binary("kubehub-agent"), "--hub-url", f"wss://{self.hubs[0].tunnel}/tunnel",
                            "--hub-connections", "1", "--tls-cert", crt, "--tls-key", key,
                            "--hub-ca", self.fleet.pki.ca_cert,
                            "--kubeconfig", self.fleet.work.join("edge-a-agent.kubeconfig"),
                            "--admin-listen", "127.0.0.1:0", "--backoff-base", "100ms", "--backoff-max", "1s"],
                           ready=r'is draining: connect to another hub', log_path=self.fleet.work.join("agent-late.log"))
        late.kill()
        self.assertNotIn("edge-late", clusters_on(self.hubs[0]))
        self.assertGreater(metric(self.hubs[0], "kubehub_hub_agent_refused_total", reason="draining"), 0)
        platform.ctl("hub", "undrain", "hub-1")
        e2e.wait_until(lambda: not {h["id"]: h for h in platform.ctl_json("hub", "list")["items"]}
                       ["hub-1"]["draining"], timeout=5, what="hub-1 undrained")
        e2e.wait_until(lambda: metric(self.hubs[0], "kubehub_hub_draining") == 0, timeout=5,
                       what="hub-1's draining gauge back to 0")

    def test_2_sigterm_drains_leaves_the_registry_and_exits(self):
        # The hub holding the most tunnels now (after the admin drain, hub-2 or hub-3).
        victim = max(self.hubs[1:], key=lambda h: len(clusters_on(h)))
        others = [h for h in self.hubs if h is not victim]
        moving = clusters_on(victim)
        self.assertTrue(moving)
        with ReadLoop(self.fleet, rounds(others, CLUSTERS)) as reads:
            time.sleep(1)
            victim.proc.proc.send_signal(signal.SIGTERM)
            e2e.wait_until(lambda: admin_get(victim, "/readyz")[0] == 503, timeout=5,
                           what="the leaving hub's /readyz saying so")
            code = victim.proc.proc.wait(30)
            self.assertEqual(code, 0)
            for hub in others:
                e2e.wait_until(lambda: all(holders(hub, c) and victim.name not in holders(hub, c)
                                           for c in CLUSTERS), timeout=10, what="routes without the hub")
            time.sleep(1)
        print(f"\nSIGTERM drain: {reads}", file=sys.stderr)
        self.assertEqual(reads.failed, [])
        log = victim.proc.log_text()
        self.assertIn("draining before exit", log)
        self.assertIn("every agent moved; exiting", log)
        self.assertIn("left the registry", log)
        ids = [h["id"] for h in self.fleet.platform.ctl_json("hub", "list")["items"]]
        self.assertNotIn(victim.name, ids)


if __name__ == "__main__":
    unittest.main()
