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
import http.client
import json
import os
import ssl
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
from hub_fleet_test import admin_get  # noqa: E402

EDGE_TOKEN = "failover-edge-token-0123456789"
CLUSTERS = ("edge-a", "edge-b")


class HubFailoverTest(unittest.TestCase):
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
        cls.hubs = [e2e.start_metaserver_hub(w, cls.pki, p, f"hub-{i}", agent_ca, peer=True) for i in (1, 2, 3)]
        cls.procs += [h.proc for h in cls.hubs]
        cls.edges = {}
        for cluster in CLUSTERS:
            standin, url = e2e.start_standin(w, cls.pki, EDGE_TOKEN, name=f"standin-{cluster}")
            cls.procs.append(standin)
            cls.edges[cluster] = url
            kc = e2e.write_kubeconfig(w.join(f"{cluster}-agent.kubeconfig"), url, cls.pki.ca_cert, token=EDGE_TOKEN)
            crt, key = p.agent_certificate(cluster)
            cls.procs.append(e2e.Process(
                [e2e.binary("kubehub-agent"), "--hub-url", f"wss://{cls.hubs[0].tunnel}/tunnel",
                 "--hub-connections", "2", "--tls-cert", crt, "--tls-key", key, "--hub-ca", cls.pki.ca_cert,
                 "--kubeconfig", kc, "--admin-listen", "127.0.0.1:0", "--backoff-base", "100ms",
                 "--backoff-max", "1s"],
                ready=r"tunnel up", log_path=w.join(f"agent-{cluster}.log"), timeout=40))
        # Each cluster is held by hub-1 and one other hub, as every hub's routing table says.
        for hub in cls.hubs:
            e2e.wait_until(lambda: all(len(cls.holders(hub, c)) == 2 and "hub-1" in cls.holders(hub, c)
                                       for c in CLUSTERS), timeout=30, what="two tunnels per cluster")
        cls.token = p.token("alice")
        cls.kubeconfig = e2e.write_kubeconfig(w.join("alice-hub-3-edge-a.kubeconfig"),
                                              cls.hubs[2].cluster_url("edge-a"), cls.pki.ca_cert, token=cls.token)

    @staticmethod
    def holders(hub, cluster):
        return json.loads(admin_get(hub, "/debug/peers")[1])["routes"].get(cluster, [])

    @classmethod
    def tearDownClass(cls):
        for proc in reversed(cls.procs):
            proc.kill()
        if cls.platform:
            cls.platform.close()
        if getattr(cls, "failed", False):
            e2e.print_logs(cls.work, ("hub-2.log", "hub-3.log", "agent-edge-a.log", "agent-edge-b.log"))
        cls.work.close()

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            type(self).failed = True

    def request(self, hub, method, path, body=None):
        host, port = hub.users.rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), timeout=20,
                                           context=ssl.create_default_context(cafile=self.pki.ca_cert))
        try:
            headers = {"Authorization": f"Bearer {self.token}"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            r = conn.getresponse()
            return r.status, r.read().decode(errors="replace")
        finally:
            conn.close()

    def edge_names(self, cluster):
        _, got = e2e.https_json(self.edges[cluster] + "/api/v1/namespaces/default/configmaps?labelSelector=informer%3Dyes",
                                EDGE_TOKEN, self.pki.ca_cert)
        return sorted(i["metadata"]["name"] for i in got["items"])

    def test_killed_hub_loses_no_read_and_no_acknowledged_write(self):
        state = self.work.join("informer.json")
        # The Debian python3-kubernetes client, list+watch the way informers do.
        informer = e2e.Process(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "informer.py"),
                                self.kubeconfig, state], ready=r"informer ready",
                               log_path=self.work.join("informer.log"))
        self.addCleanup(informer.kill)

        stop = threading.Event()
        reads = {"ok": 0, "failed": []}
        writes = {"acked": [], "failed": []}

        def reader():
            survivors = self.hubs[1:]
            i = 0
            while not stop.is_set():
                hub = survivors[i % 2]
                cluster = CLUSTERS[(i // 2) % 2]
                i += 1
                try:
                    status, body = self.request(hub, "GET", f"/clusters/{cluster}/api/v1/namespaces/default/configmaps")
                except OSError as e:
                    status, body = 0, str(e)
                if status == 200:
                    reads["ok"] += 1
                else:
                    reads["failed"].append((cluster, status, body[:200]))

        def writer():
            n = 0
            while not stop.is_set():
                n += 1
                name = f"w-{n:04d}"
                try:
                    status, body = self.request(self.hubs[2], "POST", "/clusters/edge-a/api/v1/namespaces/default/configmaps",
                                                {"metadata": {"name": name, "labels": {"informer": "yes"}}, "data": {}})
                except OSError as e:
                    status, body = 0, str(e)
                (writes["acked"] if 200 <= status < 300 else writes["failed"]).append(name)
                time.sleep(0.02)

        threads = [threading.Thread(target=reader, daemon=True), threading.Thread(target=writer, daemon=True)]
        for t in threads:
            t.start()
        time.sleep(2)
        reads_before = reads["ok"]
        self.hubs[0].proc.kill()
        time.sleep(5)
        stop.set()
        for t in threads:
            t.join(30)

        print(f"\nreads: {reads['ok']} ok ({reads_before} before the kill), {len(reads['failed'])} failed; "
              f"writes: {len(writes['acked'])} acknowledged, {len(writes['failed'])} failed", file=sys.stderr)
        self.assertGreater(reads_before, 10)
        self.assertGreater(reads["ok"], reads_before + 10, "reads went on after the kill")
        self.assertEqual(reads["failed"], [], "every cluster kept a tunnel on a surviving hub")
        self.assertGreater(len(writes["acked"]), 20)
        on_edge = self.edge_names("edge-a")
        lost = sorted(set(writes["acked"]) - set(on_edge))
        self.assertEqual(lost, [], "writes acknowledged with a 2xx are on the edge")

        def informer_agrees():
            with open(state) as f:
                return json.load(f) == self.edge_names("edge-a")
        e2e.wait_until(informer_agrees, timeout=30, what="the informer's set equal to the edge's")

        # Each agent replaced the lost tunnel with one to the third hub.
        for hub in self.hubs[1:]:
            e2e.wait_until(lambda: sorted(c["cluster"] for c in json.loads(
                admin_get(hub, "/debug/clusters")[1])["clusters"]) == list(CLUSTERS),
                timeout=20, what="both clusters' tunnels on each surviving hub")

if __name__ == "__main__":
    unittest.main()
