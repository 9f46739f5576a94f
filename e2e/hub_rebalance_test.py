"""Hubs added to a running fleet take load: agents spread gradually, with no failed request.

PostgreSQL + metaserver + hub-1 with six agents (one tunnel each, all on hub-1, one shared
stand-in as their API server); then hub-2 and hub-3 join. hub-1, over its fair share, asks a few
settled agents at a time to move (rebalancing at 5 a second, tunnels settle after 1 s here);
each moves make-before-break. A read loop through the new hubs runs all along."""
import itertools
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
from fleet import FleetTestCase, ReadLoop, clusters_on, metric  # noqa: E402

CLUSTERS = tuple(f"edge-{i}" for i in range(1, 7))
HUB_FLAGS = ["--rebalance-rate-milli", "5000", "--rebalance-settle", "1s"]


class HubRebalanceTest(FleetTestCase):
    @classmethod
    def start_fleet(cls, fleet):
        fleet.start_platform()
        fleet.admit(CLUSTERS)
        hub = fleet.start_hub("hub-1", extra=HUB_FLAGS)
        edge = fleet.start_standin()
        for cluster in CLUSTERS:
            fleet.start_agent(cluster, hub, connections=1, edge=edge)
        e2e.wait_until(lambda: len(clusters_on(hub)) == len(CLUSTERS), timeout=30,
                       what="every agent on hub-1")

    def test_added_hubs_take_agents_gradually_without_a_failed_request(self):
        added = self.fleet.start_hubs(2, extra=HUB_FLAGS)
        # hub-2 and hub-3 in turn, the clusters in turn.
        with ReadLoop(self.fleet, zip(itertools.cycle(added), CLUSTERS), path="/api/v1/namespaces") as reads:
            def spread():
                counts = [len(clusters_on(h)) for h in self.hubs]
                return sum(counts) == len(CLUSTERS) and counts[0] <= 3 and counts[1] > 0 and counts[2] > 0
            try:
                e2e.wait_until(spread, timeout=40, what="agents spread over the three hubs")
            except TimeoutError:
                agents = "".join(line for c in CLUSTERS
                                 for line in self.fleet.agents[c].proc.log_text().splitlines(keepends=True)
                                 if "move" in line or "tunnel up" in line)
                raise AssertionError(f"agents not spread: {[clusters_on(h) for h in self.hubs]}\n"
                                     + agents)
        counts = [len(clusters_on(h)) for h in self.hubs]
        moves = metric(self.hubs[0], "kubehub_hub_agent_moves_requested_total", reason="rebalancing")
        print(f"\nrebalanced to {counts}; {moves:.0f} moves asked; {reads}", file=sys.stderr)
        self.assertEqual(reads.failed, [], "\n".join(message for _, _, message in reads.failed))
        # Gradual and bounded: hub-1 asked only its excess over the fair share (2 each), so it
        # keeps agents of its own and no hub ends far over the share.
        asks = "".join(line for h in self.hubs for line in h.proc.log_text().splitlines(keepends=True)
                       if "asked agents to move" in line)
        moved = "".join(line for c in CLUSTERS
                        for line in self.fleet.agents[c].proc.log_text().splitlines(keepends=True)
                        if "tunnel moved" in line)
        self.assertLessEqual(moves, 4, f"hub-1 asked more than its excess:\n{asks}{moved}")
        self.assertGreaterEqual(counts[0], 2)
        self.assertLessEqual(max(counts), 3)
        self.assertIn("rebalancing", self.hubs[0].proc.log_text())


if __name__ == "__main__":
    unittest.main()
