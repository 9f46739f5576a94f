"""A read whose tunnel breaks under it, at the edge, is asked again where the cluster still is.

PostgreSQL + metaserver + two hubs with peer links + one agent holding a tunnel to each hub (the
one to hub-1 through a relay the test can cut) + its stand-in. A consistent GET enters hub-1 and
goes down hub-1's own tunnel; the stand-in holds its answer (POST /standin/hold) while the test
cuts the relay. Nothing has reached the client yet, so hub-1 plans the read once more, finds the
cluster on hub-2 in its routes and asks hub-2 over the peer link: the client gets the object,
never an error. Without the second plan this read fails with 503."""
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
from fleet import FleetTestCase, holders  # noqa: E402
from relay import Relay  # noqa: E402

CLUSTER = "edge-r"
PATH = "/api/v1/namespaces/default/configmaps/held-read"


class HubReplanTest(FleetTestCase):
    @classmethod
    def start_fleet(cls, fleet):
        fleet.start_platform()
        fleet.admit([CLUSTER])
        fleet.start_hubs(2)
        host, port = fleet.hubs[0].tunnel.rsplit(":", 1)
        cls.relay = Relay(host, int(port))
        fleet.start_agent(CLUSTER, [f"wss://{cls.relay.address}/tunnel", fleet.hubs[1]], connections=2)
        for hub in fleet.hubs:
            e2e.wait_until(lambda: sorted(holders(hub, CLUSTER)) == ["hub-1", "hub-2"], timeout=30,
                           what=f"{hub.name}'s routes: {CLUSTER} on both hubs")

    @classmethod
    def tearDownClass(cls):
        cls.relay.close()
        super().tearDownClass()

    def edge(self, method, path, body=None):
        return e2e.https_json(self.fleet.edges[CLUSTER] + path, self.fleet.edge_token, self.fleet.pki.ca_cert,
                              method=method, body=body)

    def test_read_caught_by_a_broken_tunnel_is_answered_by_the_other_hub(self):
        status, _ = self.edge("POST", "/api/v1/namespaces/default/configmaps",
                              {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "held-read"}, "data": {"v": "1"}})
        self.assertIn(status, (201, 409))
        status, _ = self.edge("POST", "/standin/hold", {"path": PATH, "ms": 2500})
        self.assertEqual(status, 200)
        self.addCleanup(self.edge, "POST", "/standin/hold", {"path": PATH, "ms": 0})
        hub1 = self.hubs[0]
        log_start = len(hub1.proc.log_text())
        got = {}

        def read():
            try:
                got["status"], got["headers"], got["body"] = self.fleet.request(
                    hub1, "GET", f"/clusters/{CLUSTER}{PATH}")
            except OSError as e:
                got["error"] = e
        def at_edge():
            _, seen = self.edge("GET", "/standin/requests")
            return sum(1 for r in seen if PATH in json.dumps(r))
        before = at_edge()  # before the read starts: the edge records it on arrival
        reader = threading.Thread(target=read)
        reader.start()
        # The read is at the edge, held, on hub-1's tunnel: cut that tunnel under it.
        e2e.wait_until(lambda: at_edge() > before, timeout=10, interval=0.05,
                       what="the read held at the edge")
        time.sleep(0.2)
        self.assertGreaterEqual(self.relay.cut(), 1)
        reader.join(30)
        self.assertFalse(reader.is_alive(), "the read never ended")
        self.assertNotIn("error", got)
        self.assertEqual(got["status"], 200, got.get("body", "")[:300])
        self.assertEqual(json.loads(got["body"])["metadata"]["name"], "held-read")
        log = hub1.proc.log_text()[log_start:]
        self.assertIn("the cluster's tunnel here closed before it answered; asking where it went", log)
        # hub-2 got it over the peer link: the edge saw the read twice.
        self.assertGreaterEqual(at_edge() - before, 2)


if __name__ == "__main__":
    unittest.main()
