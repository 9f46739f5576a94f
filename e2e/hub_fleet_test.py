"""A fleet of hubs acting as one gateway: PostgreSQL + metaserver + three hubs with peer links
(hub certificates from the metaserver's CA, asked for with each hub's own token) + two agents,
each on one hub (edge-a on hub-1, edge-b on hub-2; hub-3 holds no tunnel) + one stand-in per
cluster, driven by kubectl with a metaserver-issued token.

A request to any hub reaches any cluster: the entry hub authenticates and authorises, then
forwards over its peer link to the hub holding the tunnel, which serves it from its cache or
its tunnel. Reads, writes, watches, logs -f and exec cross the link. A user cannot forge the
identity hubs pass to each other, and the peer endpoint takes hub certificates only."""
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402

EDGE_TOKEN = "fleet-edge-token-0123456789"
CLUSTERS = ("edge-a", "edge-b")


def admin_get(hub, path):
    conn = http.client.HTTPConnection(*hub.admin.rsplit(":", 1), timeout=5)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


def metric(text, name, **labels):
    """The value of one series in Prometheus text, 0 when absent."""
    for line in text.splitlines():
        m = re.match(rf"{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", line)
        if not m:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(2))
    return 0.0


class HubFleetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workdir()
        cls.procs = []
        cls.platform = None
        try:
            cls._start()
        except BaseException:
            e2e.print_logs(cls.work, ("hub-1.log", "hub-2.log", "hub-3.log", "metaserver.log"))
            cls.tearDownClass()
            raise

    @classmethod
    def _start(cls):
        w = cls.work
        cls.pki = e2e.Pki(w.join("pki"))
        cls.platform = p = e2e.Platform(w, cls.pki)
        p.ctl("tenant", "create", "ops")
        p.ctl("user", "create", "alice", "--tenant", "ops", "--groups", "devs")
        p.ctl("user", "create", "eve", "--tenant", "ops")
        for c in CLUSTERS:
            p.ctl("cluster", "create", c)
        p.ctl("cluster", "create", "edge-x")
        p.ctl("grant", "create", "ops-all", "--tenant", "ops", "--user", "alice", "--clusters", "*",
              "--api-groups", "*", "--resources", "*", "--verbs", "*")
        cls.agent_ca = p.ca_file()
        cls.hubs = [e2e.start_metaserver_hub(w, cls.pki, p, f"hub-{i}", cls.agent_ca, peer=True)
                    for i in (1, 2, 3)]
        cls.procs += [h.proc for h in cls.hubs]
        cls.edges = {}
        cls.agent_args = {}
        cls.agents = {}
        for cluster, hub in zip(CLUSTERS, cls.hubs):
            standin, url = e2e.start_standin(w, cls.pki, EDGE_TOKEN, extra=["--seed-pods", "3"],
                                             name=f"standin-{cluster}")
            cls.procs.append(standin)
            cls.edges[cluster] = url
            kc = e2e.write_kubeconfig(w.join(f"{cluster}-agent.kubeconfig"), url, cls.pki.ca_cert,
                                      token=EDGE_TOKEN)
            crt, key = p.agent_certificate(cluster)
            cls.agent_args[cluster] = [
                e2e.binary("kubehub-agent"), "--hub-url", f"wss://{hub.tunnel}/tunnel", "--tls-cert", crt,
                "--tls-key", key, "--hub-ca", cls.pki.ca_cert, "--kubeconfig", kc,
                "--admin-listen", "127.0.0.1:0", "--backoff-base", "100ms", "--backoff-max", "1s",
                # One tunnel each, so the routes are known: hub-3 holds none (failover with agents
                # on several hubs is hub_failover_test's).
                "--hub-connections", "1"]
            cls._start_agent(cluster)
            hub.wait_discovered(cluster)
        cls.alice_token = p.token("alice")
        cls.eve_token = p.token("eve")
        # Every hub has learnt every route before the tests start.
        for hub in cls.hubs:
            e2e.wait_until(lambda: all(c in json.loads(admin_get(hub, "/debug/peers")[1])["routes"]
                                       for c in CLUSTERS), timeout=20, what="routes on every hub")

    @classmethod
    def _start_agent(cls, cluster):
        cls.agents[cluster] = e2e.Process(cls.agent_args[cluster], ready=r"tunnel up",
                                          log_path=cls.work.join(f"agent-{cluster}.log"), timeout=40)
        cls.procs.append(cls.agents[cluster])

    @classmethod
    def tearDownClass(cls):
        for proc in reversed(cls.procs):
            proc.kill()
        if cls.platform:
            cls.platform.close()
        if getattr(cls, "failed", False):
            e2e.print_logs(cls.work, ("hub-1.log", "hub-2.log", "hub-3.log", "agent-edge-a.log",
                                      "metaserver.log"))
        cls.work.close()

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            type(self).failed = True

    # ---- helpers ----

    def kubeconfig(self, hub, cluster, token=None):
        name = f"hub-{self.hubs.index(hub) + 1}-{cluster}-{'alice' if token is None else 'other'}"
        return e2e.write_kubeconfig(self.work.join(f"{name}.kubeconfig"), hub.cluster_url(cluster),
                                    self.pki.ca_cert, token=token or self.alice_token)

    def kubectl(self, hub, cluster, *args, **kw):
        return e2e.kubectl(self.kubeconfig(hub, cluster), *args, **kw)

    def raw(self, hub, method, path, token=None, headers=None, body=None):
        host, port = hub.users.rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), timeout=20,
                                           context=ssl.create_default_context(cafile=self.pki.ca_cert))
        try:
            h = {"Authorization": f"Bearer {token or self.alice_token}", **(headers or {})}
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode(errors="replace")
        finally:
            conn.close()

    def edge_pods(self, cluster):
        _, got = e2e.https_json(self.edges[cluster] + "/api/v1/namespaces/default/pods", EDGE_TOKEN,
                                self.pki.ca_cert)
        return sorted("pod/" + i["metadata"]["name"] for i in got["items"])

    def metrics(self, hub):
        return admin_get(hub, "/metrics")[1]

    # ---- tests ----

    def test_every_hub_reaches_every_cluster(self):
        hub3_before = metric(self.metrics(self.hubs[2]), "kubehub_hub_peer_requests_total",
                             direction="out", outcome="forwarded")
        for cluster in CLUSTERS:
            want = self.edge_pods(cluster)
            self.assertTrue(want)
            for hub in self.hubs:
                out = self.kubectl(hub, cluster, "get", "pods", "-n", "default", "-o", "name").stdout.split()
                self.assertEqual(sorted(out), want, f"{cluster} through {hub.proc.log_path}")
        after = metric(self.metrics(self.hubs[2]), "kubehub_hub_peer_requests_total",
                       direction="out", outcome="forwarded")
        self.assertGreaterEqual(after - hub3_before, 2, "hub-3 holds no tunnel: it routed both")
        self.assertGreater(metric(self.metrics(self.hubs[0]), "kubehub_hub_peer_requests_total",
                                  direction="in", outcome="served"), 0)
        self.assertGreaterEqual(metric(self.metrics(self.hubs[2]), "kubehub_hub_peer_links", state="up"), 2)

    def test_reads_through_a_peer_come_from_the_owners_cache(self):
        path = "/clusters/edge-a/api/v1/namespaces/default/pods"
        e2e.wait_until(lambda: self.raw(self.hubs[2], "GET", path)[1].get("x-kubehub-served-from") == "cache",
                       timeout=20, what="list through hub-3 served from hub-1's cache")
        status, headers, body = self.raw(self.hubs[2], "GET", path)
        self.assertEqual(status, 200)
        names = sorted("pod/" + i["metadata"]["name"] for i in json.loads(body)["items"])
        self.assertEqual(names, self.edge_pods("edge-a"))
        # A Table, as kubectl asks for it, keeps its columns across the link.
        status, headers, body = self.raw(
            self.hubs[1], "GET", path,
            headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["kind"], "Table")

    def test_write_through_one_hub_read_through_any(self):
        manifest = ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"fleet-cm","namespace":"default"},'
                    '"data":{"v":"1"}}')
        self.kubectl(self.hubs[2], "edge-b", "apply", "-f", "-", input=manifest)
        try:
            for hub in self.hubs:
                got = json.loads(self.kubectl(hub, "edge-b", "get", "cm", "fleet-cm", "-n", "default",
                                              "-o", "json").stdout)
                self.assertEqual(got["data"]["v"], "1")
            self.kubectl(self.hubs[0], "edge-b", "patch", "cm", "fleet-cm", "-n", "default",
                         "-p", '{"data":{"v":"2"}}')
            got = json.loads(self.kubectl(self.hubs[2], "edge-b", "get", "cm", "fleet-cm", "-n", "default",
                                          "-o", "json").stdout)
            self.assertEqual(got["data"]["v"], "2", "a consistent read after a write through another hub")
        finally:
            self.kubectl(self.hubs[0], "edge-b", "delete", "cm", "fleet-cm", "-n", "default", check=False)

    def test_watch_logs_and_exec_cross_the_link(self):
        env = {**os.environ, "HOME": self.work.path}
        watch = subprocess.Popen([e2e.KUBECTL, "--kubeconfig", self.kubeconfig(self.hubs[2], "edge-a"),
                                  "get", "cm", "-n", "default", "-w", "--output-watch-events"],
                                 stdout=subprocess.PIPE, text=True, env=env)
        lines = []
        threading.Thread(target=lambda: [lines.append(l) for l in watch.stdout], daemon=True).start()
        try:
            time.sleep(1)
            self.kubectl(self.hubs[1], "edge-a", "create", "cm", "watched-across", "-n", "default")
            e2e.wait_until(lambda: any("watched-across" in l for l in lines), timeout=20,
                           what="the event through hub-3's watch")
        finally:
            watch.kill()
            watch.wait(10)
            self.kubectl(self.hubs[0], "edge-a", "delete", "cm", "watched-across", "-n", "default", check=False)

        pod = self.edge_pods("edge-a")[0].split("/", 1)[1]
        follow = subprocess.Popen([e2e.KUBECTL, "--kubeconfig", self.kubeconfig(self.hubs[2], "edge-a"),
                                   "logs", "-f", pod, "-n", "default"], stdout=subprocess.PIPE, text=True, env=env)
        loglines = []
        threading.Thread(target=lambda: [loglines.append(l) for l in follow.stdout], daemon=True).start()
        try:
            e2e.wait_until(lambda: len(loglines) >= 2, timeout=30, what="followed log lines through hub-3")
        finally:
            follow.kill()
            follow.wait(10)

        out = self.kubectl(self.hubs[2], "edge-a", "exec", pod, "-n", "default", "--", "echo", "hi").stdout
        self.assertEqual(out, "hi\n")
        out = self.kubectl(self.hubs[1], "edge-a", "exec", "-i", pod, "-n", "default", "--", "cat",
                           input="across two hubs\n").stdout
        self.assertEqual(out, "across two hubs\n")

    def test_user_cannot_forge_the_identity_hubs_pass(self):
        forged = {"Kubehub-Peer-Identity": json.dumps({"user": "alice", "tenant": "ops", "breakGlass": True}),
                  "kubehub-peer-identity": json.dumps({"user": "root", "breakGlass": True})}
        for hub in self.hubs:  # the owner of edge-a, and two entry hubs
            status, _, body = self.raw(hub, "GET", "/clusters/edge-a/api/v1/namespaces/default/pods",
                                       token=self.eve_token, headers=forged)
            self.assertEqual(status, 403, body[:300])
            self.assertIn('User "eve"', json.loads(body)["message"])
        # Alice's forged header is dropped too: the edge sees her, impersonated, and nobody else.
        who = json.loads(self.kubectl(self.hubs[2], "edge-a", "auth", "whoami", "-o", "json").stdout)
        self.assertEqual(who["status"]["userInfo"]["username"], "alice")
        for req in e2e.standin_requests(self.edges["edge-a"], EDGE_TOKEN, self.pki.ca_cert):
            names = [k.lower() for k, _ in req.get("headerList", [])]
            self.assertFalse(any(n.startswith("kubehub-peer-") for n in names), req)

    def test_peer_endpoint_takes_hub_certificates_only(self):
        host, port = self.hubs[0].peer.rsplit(":", 1)
        crt, key = self.platform.agent_certificate("edge-x")
        before = metric(self.metrics(self.hubs[0]), "kubehub_hub_peer_links_refused_total")
        ctx = ssl.create_default_context(cafile=self.agent_ca)
        ctx.check_hostname = False
        ctx.load_cert_chain(crt, key)
        with socket.create_connection((host, int(port)), timeout=10) as raw_sock:
            with ctx.wrap_socket(raw_sock) as s:
                s.sendall(b"GET /peer HTTP/1.1\r\nHost: hub\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                          b"Sec-WebSocket-Protocol: kubehub.peer.v1\r\n\r\n")
                data = b""
                try:
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except (ssl.SSLError, ConnectionError, socket.timeout):
                    pass
        e2e.wait_until(lambda: metric(self.metrics(self.hubs[0]), "kubehub_hub_peer_links_refused_total")
                       > before, timeout=10, what="the agent certificate refused as a peer")
        self.assertIn("peer link refused", self.hubs[0].proc.log_text())
        # Without a client certificate the TLS handshake itself fails.
        ctx = ssl.create_default_context(cafile=self.agent_ca)
        ctx.check_hostname = False
        with socket.create_connection((host, int(port)), timeout=10) as raw_sock:
            with self.assertRaises((ssl.SSLError, ConnectionError)):
                with ctx.wrap_socket(raw_sock) as s:
                    s.sendall(b"GET /peer HTTP/1.1\r\n\r\n")
                    if not s.recv(1):
                        raise ConnectionResetError("closed")

    def test_cluster_whose_agent_left_is_503_everywhere_then_back(self):
        self.agents["edge-b"].kill()
        try:
            def refused_everywhere():
                for hub in self.hubs:
                    status, _, body = self.raw(hub, "GET", "/clusters/edge-b/api/v1/namespaces")
                    if status != 503 or "edge-b" not in json.loads(body).get("message", ""):
                        return False
                return True
            e2e.wait_until(refused_everywhere, timeout=15, what="503 naming edge-b on every hub")
            # Once the route is gone from every hub's table, none of them tries hub-2 any more.
            for hub in self.hubs:
                e2e.wait_until(lambda: "not connected to any hub" in json.loads(self.raw(
                    hub, "GET", "/clusters/edge-b/api/v1/namespaces")[2])["message"], timeout=5,
                    what="the route's removal on every hub")
        finally:
            self._start_agent("edge-b")
        e2e.wait_until(lambda: self.raw(self.hubs[2], "GET", "/clusters/edge-b/api/v1/namespaces")[0] == 200,
                       timeout=15, what="edge-b reachable through hub-3 again")


if __name__ == "__main__":
    unittest.main()
