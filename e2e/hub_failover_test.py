"""A hub of the fleet killed with SIGKILL while users read, write and watch through the others.

PostgreSQL + metaserver + three hubs with peer links + two agents that keep tunnels to two hubs
each (they start from hub-1 and learn the others from it) + one stand-in per cluster. While a
read loop runs through hub-2 and hub-3 against both clusters, a writer creates configmaps on
edge-a through hub-3, and the python informer (python3-kubernetes) list+watches them through
hub-3, hub-1 (which holds a tunnel of both clusters) is killed. Then:
- no read failed: every cluster kept a tunnel on a surviving hub, and a read caught on the dead
  hub's link is tried at the other owner;
- every write that got a 2xx is on the edge, and the informer ends with exactly the edge's set;
- each agent replaced the lost tunnel with one to the other surviving hub."""
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
from fleet import FleetTestCase, ReadLoop, clusters_on, holders, rounds  # noqa: E402

CLUSTERS = ("edge-a", "edge-b")


class HubFailoverTest(FleetTestCase):
    @classmethod
    def start_fleet(cls, fleet):
        fleet.start_platform()
        fleet.admit(CLUSTERS)
        fleet.start_hubs(3)
        for cluster in CLUSTERS:
            fleet.start_agent(cluster, fleet.hubs[0], connections=2)
        # Each cluster is held by hub-1 and one other hub, as every hub's routing table says.
        for hub in fleet.hubs:
            e2e.wait_until(lambda: all(len(holders(hub, c)) == 2 and "hub-1" in holders(hub, c)
                                       for c in CLUSTERS), timeout=30, what="two tunnels per cluster")
        cls.kubeconfig = e2e.write_kubeconfig(fleet.work.join("alice-hub-3-edge-a.kubeconfig"),
                                              fleet.hubs[2].cluster_url("edge-a"), fleet.pki.ca_cert,
                                              token=fleet.token)

    def edge_names(self, cluster):
        got = self.fleet.edge_json(cluster, "/api/v1/namespaces/default/configmaps?labelSelector=informer%3Dyes")
        return sorted(i["metadata"]["name"] for i in got["items"])

    def test_killed_hub_loses_no_read_and_no_acknowledged_write(self):
        state = self.fleet.work.join("informer.json")
        events = self.fleet.work.join("informer-events.jsonl")
        # The Debian python3-kubernetes client, list+watch the way informers do.
        informer = e2e.Process(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "informer.py"),
                                self.kubeconfig, state, events], ready=r"informer ready",
                               log_path=self.fleet.work.join("informer.log"))
        self.addCleanup(informer.kill)

        stop = threading.Event()
        writes = {"acked": [], "failed": []}

        def writer():
            n = 0
            while not stop.is_set():
                n += 1
                name = f"w-{n:04d}"
                try:
                    status, _, body = self.fleet.request(
                        self.hubs[2], "POST", "/clusters/edge-a/api/v1/namespaces/default/configmaps",
                        body={"metadata": {"name": name, "labels": {"informer": "yes"}}, "data": {}})
                except OSError as e:
                    status, body = 0, str(e)
                (writes["acked"] if 200 <= status < 300 else writes["failed"]).append(name)
                time.sleep(0.02)

        writes_thread = threading.Thread(target=writer, daemon=True)
        reads = ReadLoop(self.fleet, rounds(self.hubs[1:], CLUSTERS))
        reads.start()
        writes_thread.start()
        time.sleep(2)
        reads_before = reads.ok
        self.hubs[0].proc.kill()
        time.sleep(5)
        stop.set()
        reads.stop()
        writes_thread.join(30)

        print(f"\nreads: {reads.ok} ok ({reads_before} before the kill), {len(reads.failed)} failed; "
              f"writes: {len(writes['acked'])} acknowledged, {len(writes['failed'])} failed", file=sys.stderr)
        self.assertGreater(reads_before, 10)
        self.assertGreater(reads.ok, reads_before + 10, "reads went on after the kill")
        self.assertEqual(reads.failed, [], "every cluster kept a tunnel on a surviving hub")
        self.assertGreater(len(writes["acked"]), 20)
        on_edge = self.edge_names("edge-a")
        lost = sorted(set(writes["acked"]) - set(on_edge))
        self.assertEqual(lost, [], "writes acknowledged with a 2xx are on the edge")

        def informer_agrees():
            with open(state) as f:
                return json.load(f) == self.edge_names("edge-a")
        e2e.wait_until(informer_agrees, timeout=30, what="the informer's set equal to the edge's")
        # Every event at most once, whichever hub served the watch after the kill (a resumed
        # watch replays from its resourceVersion, never before it); what a watch missed while
        # it was down came from a relist.
        with open(events) as f:
            seen = [json.loads(line) for line in f]
        delivered = [(e["type"], e["name"], e["rv"]) for e in seen if e["type"] != "RELIST"]
        self.assertEqual(sorted(set(x for x in delivered if delivered.count(x) > 1)), [],
                         "events delivered twice")
        added = {name for kind, name, _ in delivered if kind == "ADDED"}
        relisted = any(e["type"] == "RELIST" for e in seen[1:])
        missing = sorted(set(writes["acked"]) - added)
        self.assertTrue(not missing or relisted, f"acknowledged writes never seen by the watch: {missing}")
        print(f"informer: {len(delivered)} events, {sum(e['type'] == 'RELIST' for e in seen) - 1} relists, "
              f"{len(missing)} creations seen only through a relist", file=sys.stderr)

        # Each agent replaced the lost tunnel with one to the third hub.
        for hub in self.hubs[1:]:
            e2e.wait_until(lambda: clusters_on(hub) == list(CLUSTERS), timeout=20,
                           what="both clusters' tunnels on each surviving hub")


if __name__ == "__main__":
    unittest.main()
