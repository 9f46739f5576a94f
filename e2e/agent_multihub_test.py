"""End to end: one agent keeps tunnels to several hubs at once (issue "hub fleet", agents on
several hubs). Both hubs serve the cluster; one hub killed with SIGKILL costs the other's users
nothing and the agent comes back to it once it restarts; however the agent is pointed at one
hub twice, it holds a single tunnel there and the hub never replaces one with another over and
over."""
import os
import re
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402

USER_TOKEN = "user-token-0123456789"
EDGE_TOKEN = "edge-agent-token-0123456789"
# Every request goes through the tunnel (a cache could answer while a tunnel is down).
HUB_FLAGS = ["--cache-resources", "none"]
REPLACING = "replacing the previous tunnel of the cluster"


class Stack:
    """A stand-in edge API server, a token file, and whatever hubs and agents a test starts."""

    def __init__(self):
        self.work = e2e.Workdir()
        self.procs = []
        self.failed = False
        try:
            self.pki = e2e.Pki(self.work.join("pki"))
            self.standin, self.standin_url = e2e.start_standin(self.work, self.pki, EDGE_TOKEN)
            self.procs.append(self.standin)
            self.tokens = e2e.write_token_file(self.work.join("tokens.csv"),
                                               [(USER_TOKEN, "alice", "u-1", ["devs"])])
            self.agent_kubeconfig = e2e.write_kubeconfig(self.work.join("agent-kubeconfig.json"),
                                                         self.standin_url, self.pki.ca_cert,
                                                         token=EDGE_TOKEN)
        except BaseException:
            self.close()
            raise

    def hub(self, name, extra=(), **kw):
        hub = e2e.Hub(self.work, self.pki, self.tokens, name=name, extra=[*HUB_FLAGS, *extra], **kw)
        self.procs.append(hub.proc)
        return hub

    def agent(self, cluster, hubs, connections=2):
        agent = e2e.Agent(self.work, self.pki, cluster, hubs, self.agent_kubeconfig,
                          extra=["--hub-connections", str(connections)])
        self.procs.append(agent.proc)
        return agent

    def kubeconfig(self, hub, cluster, name):
        return e2e.write_kubeconfig(self.work.join(f"{name}.kubeconfig"), hub.cluster_url(cluster),
                                    self.pki.ca_cert, token=USER_TOKEN)

    def close(self):
        for p in reversed(self.procs):
            p.kill()
        if self.failed or os.environ.get("KUBEHUB_E2E_SHOW_LOGS") == "1":
            e2e.print_logs(self.work, sorted(f for f in os.listdir(self.work.path) if f.endswith(".log")))
        self.work.close()


class TcpBalancer:
    """A TCP load balancer on loopback in front of hubs' tunnel listeners (TLS passes through),
    choosing the backend of each new connection from `plan` in turn (then round robin), the
    way a cloud load balancer in front of a hub Deployment may send an agent's second
    connection to the hub that holds its first."""

    def __init__(self, backends, plan=()):
        self.backends = list(backends)
        self.plan = list(plan)
        self.count = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _backend(self):
        i = self.count
        self.count += 1
        if i < len(self.plan):
            return self.plan[i]
        return self.backends[(i - len(self.plan)) % len(self.backends)]

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            host, port = self._backend().rsplit(":", 1)
            try:
                upstream = socket.create_connection((host, int(port)), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.sock.close()


def get_namespaces(kubeconfig):
    r = e2e.kubectl(kubeconfig, "get", "ns", check=False)
    return r.returncode == 0 and "default" in r.stdout, r


class KubectlLoop:
    """kubectl get ns through one hub, over and over on a thread, counting what failed."""

    def __init__(self, kubeconfig):
        self.kubeconfig = kubeconfig
        self.ok = 0
        self.failures = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_event.is_set():
            ok, r = get_namespaces(self.kubeconfig)
            if ok:
                self.ok += 1
            else:
                self.failures.append((r.returncode, r.stderr[-400:]))

    def wait_for(self, successes, timeout=60):
        e2e.wait_until(lambda: self.ok >= successes or self.failures, timeout=timeout, interval=0.05,
                       what=f"{successes} requests through the hub")

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=90)


class TwoHubsTest(unittest.TestCase):
    """hub-a (fixed tunnel port, so its bootstrap URL outlives the process) and hub-b; one agent
    with --hub-url A,B --hub-connections 2. The tests run in the order of their names."""

    @classmethod
    def setUpClass(cls):
        cls.s = Stack()
        try:
            cls.port_a = e2e.free_port()
            cls.hub_a = cls.start_hub_a("hub-a")
            cls.hub_b = cls.s.hub("hub-b")
            cls.agent = cls.s.agent("edge-1", [f"wss://127.0.0.1:{cls.port_a}/tunnel", cls.hub_b])
            cls.hub_a.wait_discovered("edge-1")
            cls.hub_b.wait_discovered("edge-1")
        except BaseException:
            cls.s.failed = True
            cls.s.close()
            raise

    @classmethod
    def start_hub_a(cls, log_name):
        return cls.s.hub("hub-a", extra=["--tunnel-listen", f"127.0.0.1:{cls.port_a}"],
                         log_name=log_name)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            self.s.failed = True

    def test_1_both_hubs_serve_the_cluster(self):
        for hub in (self.hub_a, self.hub_b):
            ok, r = get_namespaces(self.s.kubeconfig(hub, "edge-1", hub.name))
            self.assertTrue(ok, (hub.name, r.stderr[-500:]))
        log = self.agent.proc.log_text()
        self.assertRegex(log, r'msg="tunnel up" hub_id=hub-a url=wss://127\.0\.0\.1:\d+/tunnel ')
        self.assertRegex(log, r'msg="tunnel up" hub_id=hub-b url=wss://\S+ ')
        self.assertEqual(self.agent.metric("kubehub_agent_tunnels_up"), 2)
        self.assertEqual(self.agent.metric("kubehub_agent_tunnel_up"), 1)
        for hub in (self.hub_a, self.hub_b):
            self.assertNotIn(REPLACING, hub.proc.log_text())

    def test_2_killing_a_hub_costs_the_other_nothing_and_the_agent_returns(self):
        loop = KubectlLoop(self.s.kubeconfig(self.hub_b, "edge-1", "b"))
        try:
            loop.wait_for(3)
            mark = len(self.agent.proc.log_text())
            self.hub_a.proc.kill()  # SIGKILL
            self.agent.proc.wait_for_log(r'msg="tunnel down, will retry" url=\S+ hub_id=hub-a ',
                                         timeout=30, start=mark)
            # hub-b's users notice nothing while the agent keeps knocking at hub-a's door.
            self.agent.proc.wait_for_log(r'url=wss://127\.0\.0\.1:%d/tunnel hub_id="" connection=\d '
                                         r'reason="connect [^"]*Connection refused' % self.port_a,
                                         timeout=30, start=mark)
            loop.wait_for(loop.ok + 10)
            self.assertEqual(self.agent.metric("kubehub_agent_tunnels_up"), 1)

            # A new process on the same tunnel port: the agent knows it by its bootstrap URL.
            self.__class__.hub_a = self.start_hub_a("hub-a-restarted")
            self.hub_a.wait_discovered("edge-1", timeout=30)
            self.agent.proc.wait_for_log(r'msg="tunnel up" hub_id=hub-a ', timeout=30, start=mark)
            e2e.wait_until(lambda: get_namespaces(self.s.kubeconfig(self.hub_a, "edge-1", "a2"))[0],
                           timeout=30, what="kubectl through the restarted hub-a")
            loop.wait_for(loop.ok + 3)
        finally:
            loop.stop()
        self.assertEqual(loop.failures, [], "requests through hub-b failed while hub-a went away")
        self.assertGreater(loop.ok, 10)
        self.assertEqual(self.agent.metric("kubehub_agent_tunnels_up"), 2)
        self.assertNotIn(REPLACING, self.hub_b.proc.log_text())
        self.assertNotIn(REPLACING, self.hub_a.proc.log_text())


class OneHubTwiceTest(unittest.TestCase):
    """Agents given one hub twice, under one name or two, with --hub-connections 2."""

    @classmethod
    def setUpClass(cls):
        cls.s = Stack()
        try:
            # Served with a certificate marked as hub-1's: its name is known before HELLO.
            cls.hub = cls.s.hub("hub-1", hub_certificate=True)
            # Served with a certificate that names no hub: known only from WELCOME.
            cls.plain = cls.s.hub("hub-plain")
            port = cls.hub.tunnel.rsplit(":", 1)[1]
            plain_port = cls.plain.tunnel.rsplit(":", 1)[1]
            url = f"wss://127.0.0.1:{port}/tunnel"
            cls.same_url = cls.s.agent("edge-1", [url, url])
            cls.two_names = cls.s.agent("edge-2", [url, f"wss://localhost:{port}/tunnel"])
            cls.two_names_plain = cls.s.agent("edge-3", [f"wss://127.0.0.1:{plain_port}/tunnel",
                                                         f"wss://localhost:{plain_port}/tunnel"])
        except BaseException:
            cls.s.failed = True
            cls.s.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            self.s.failed = True

    def test_one_tunnel_per_hub_and_no_replacement_flapping(self):
        agents = {"edge-1": (self.same_url, self.hub), "edge-2": (self.two_names, self.hub),
                  "edge-3": (self.two_names_plain, self.plain)}
        # The second name of hub-1 is recognised by its certificate and left before HELLO.
        self.two_names.proc.wait_for_log(
            r"the hub's certificate names hub hub-1, which connection \d of this agent holds already",
            timeout=30)
        # hub-plain's certificate names no hub: its second name is known only at HELLO, where
        # the hub refuses a second tunnel of the same agent through another connection
        # (ALREADY_CONNECTED) rather than replace the first.
        e2e.wait_until(lambda: refused_already_connected(self.plain) >= 1, timeout=30,
                       what="hub-plain refusing edge-3's second connection")
        # The others' second connections look again now and then (the address may lead
        # elsewhere, as a load balancer's does), are turned away before HELLO, and back off.
        for agent in (self.same_url, self.two_names):
            agent.proc.wait_for_log(r"reached a hub this agent holds already through another "
                                    r"connection", timeout=30)
        # Requests keep flowing while the waiting connections look again (every --backoff-max,
        # 1 s here): three looks each, time for any flapping to show.
        watch_until = time.monotonic() + 3.5
        rounds = 0
        while rounds < 4 or time.monotonic() < watch_until:
            rounds += 1
            for cluster, (_, hub) in agents.items():
                e2e.wait_until(lambda: get_namespaces(self.s.kubeconfig(hub, cluster, cluster))[0],
                               timeout=30, what=f"kubectl through {hub.name} to {cluster}")
        for cluster, (agent, _) in agents.items():
            self.assertEqual(agent.metric("kubehub_agent_tunnels_up"), 1, cluster)
        for agent in (self.same_url, self.two_names):
            self.assertEqual(len(re.findall(r'msg="tunnel up"', agent.proc.log_text())), 1)
        # hub-1 never had a tunnel replaced.
        self.assertNotIn(REPLACING, self.hub.proc.log_text())
        # Without a hub certificate: no replacement either, the first tunnel stays; the second
        # connection is refused each time it looks again (backing off).
        plain_log = self.plain.proc.log_text()
        self.assertNotIn(REPLACING, plain_log, plain_log[-3000:])
        edge3 = self.two_names_plain.proc.log_text()
        self.assertNotIn("closing the older tunnel", edge3)
        self.assertEqual(len(re.findall(r'msg="tunnel up"', edge3)), 1)
        self.assertRegex(edge3, r"reached a hub this agent holds already through another connection")


class LoadBalancerTest(unittest.TestCase):
    """Two hubs behind one load balancer address, announcing nothing (agents outside the hubs'
    network reach them only through it): the agent's second connection, sent by the balancer
    to the hub holding its first, is refused there and goes round again until it reaches the
    other hub. No tunnel is ever replaced; both hubs end up serving the cluster."""

    def setUp(self):
        self.s = Stack()
        try:
            self.a = self.s.hub("hub-a")
            self.b = self.s.hub("hub-b")
            # The first two connections both go to hub-a; then round robin.
            self.lb = TcpBalancer([self.b.tunnel, self.a.tunnel], plan=[self.a.tunnel, self.a.tunnel])
            self.agent = self.s.agent("edge-1", [f"wss://{self.lb.address}/tunnel"])
        except BaseException:
            self.s.failed = True
            self.s.close()
            raise

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            self.s.failed = True
        self.lb.close()
        self.s.close()

    def test_second_connection_finds_the_other_hub_without_replacing(self):
        e2e.wait_until(lambda: self.agent.metric("kubehub_agent_tunnels_up") == 2, timeout=30,
                       what="two tunnels up through the balancer")
        self.assertGreaterEqual(refused_already_connected(self.a), 1)
        for hub in (self.a, self.b):
            self.assertNotIn(REPLACING, hub.proc.log_text(), hub.name)
            ok, r = get_namespaces(self.s.kubeconfig(hub, "edge-1", f"edge-1-{hub.name}"))
            self.assertTrue(ok, r.stderr)
        self.assertEqual(len(re.findall(r'msg="tunnel up"', self.agent.proc.log_text())), 2)


def refused_already_connected(hub):
    """kubehub_hub_agent_refused_total{reason="already_connected"} on `hub`."""
    import http.client
    conn = http.client.HTTPConnection(*hub.admin.rsplit(":", 1), timeout=5)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    m = re.search(r'kubehub_hub_agent_refused_total\{reason="already_connected"\} (\S+)', text)
    return float(m.group(1)) if m else 0.0


if __name__ == "__main__":
    unittest.main()
