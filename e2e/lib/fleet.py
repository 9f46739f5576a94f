"""A fleet of hubs for end-to-end scenarios: PostgreSQL + metaserver, hubs whose users, grants
and clusters come from it (with peer links or without), edge API server stand-ins and agents
with certificates from the metaserver's CA; what the hubs say on their admin endpoints; a user's
requests; a read loop that counts what failed.

FleetTestCase holds one Fleet for a test class and prints the components' logs when a test
failed. Every process a Fleet starts is stopped by close()."""
import http.client
import itertools
import json
import os
import re
import ssl
import threading
import unittest

import kubehub_e2e as e2e


def admin_get(hub, path):
    """GET on a hub's admin endpoint: (status, text)."""
    conn = http.client.HTTPConnection(*hub.admin.rsplit(":", 1), timeout=5)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


def metric(hub, name, **labels):
    """The value of one series on a hub's /metrics (the first whose labels include `labels`),
    0 when absent."""
    for line in admin_get(hub, "/metrics")[1].splitlines():
        m = re.match(rf"{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", line)
        if not m:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(2))
    return 0.0


def routes(hub):
    """A hub's routing table as it says on /debug/peers: {cluster: [hub ids holding it]}."""
    return json.loads(admin_get(hub, "/debug/peers")[1])["routes"]


def holders(hub, cluster):
    """The hubs holding a tunnel of `cluster`, as `hub`'s routing table says."""
    return routes(hub).get(cluster, [])


def clusters_on(hub):
    """The clusters with a tunnel on `hub` (its /debug/clusters), sorted."""
    return sorted(c["cluster"] for c in json.loads(admin_get(hub, "/debug/clusters")[1])["clusters"])


def status_message(body):
    """The message of a Kubernetes Status body; the start of any other body."""
    try:
        return json.loads(body)["message"]
    except (ValueError, KeyError, TypeError):
        return body[:600]


class Fleet:
    """One scenario's processes and files: a work directory and a test CA at once, the rest as
    the scenario starts them. `hubs` in start order; `agents` and `edges` (the URL of each
    cluster's stand-in) by cluster; `token` is the user's that admit() made."""

    def __init__(self):
        self.work = e2e.Workdir()
        self.platform = None
        self.hubs = []
        self.agents = {}
        self.edges = {}
        self.token = None
        self.edge_token = "edge-token-" + os.urandom(12).hex()
        self.work.secrets.add(self.edge_token)
        self.failed = False  # print the components' logs at close()
        self._procs = []
        self._logs = []
        try:
            self.pki = e2e.Pki(self.work.join("pki"))
        except BaseException:
            self.work.close()
            raise

    def start_platform(self, hub_url=None):
        """PostgreSQL + metaserver; `hub_url` is what it writes into kubeconfigs."""
        self._logs.append("metaserver.log")
        self.platform = e2e.Platform(self.work, self.pki, hub_url=hub_url)
        self.agent_ca = self.platform.ca_file()
        return self.platform

    def admit(self, clusters, user="alice", tenant="ops", groups=(), user_only=False):
        """Registers `clusters`, makes `tenant` with `user` in it and grants the tenant (or the user
        alone) every verb on every resource of every cluster; returns the user's token, kept
        as `token`."""
        p = self.platform
        p.ctl("tenant", "create", tenant)
        p.ctl("user", "create", user, "--tenant", tenant, *(["--groups", ",".join(groups)] if groups else []))
        for c in clusters:
            p.ctl("cluster", "create", c)
        p.ctl("grant", "create", f"{tenant}-all", "--tenant", tenant, *(["--user", user] if user_only else []),
              "--clusters", "*", "--api-groups", "*", "--resources", "*", "--verbs", "*")
        self.token = p.token(user)
        return self.token

    def start_hub(self, name, peer=True, extra=()):
        """A hub under the metaserver named `name` (its --hub-id and log), with peer links when
        `peer`, ready."""
        self._logs.append(f"{name}.log")
        hub = e2e.start_metaserver_hub(self.work, self.pki, self.platform, name, self.agent_ca,
                                       extra=extra, peer=peer)
        self._procs.append(hub.proc)
        self.hubs.append(hub)
        return hub

    def start_hubs(self, count, peer=True, extra=()):
        """`count` more hubs, hub-N numbered after those started; returns them."""
        first = len(self.hubs) + 1
        return [self.start_hub(f"hub-{i}", peer, extra) for i in range(first, first + count)]

    def start_standin(self, name="standin", extra=()):
        """An edge API server stand-in taking `edge_token`; returns its URL."""
        proc, url = e2e.start_standin(self.work, self.pki, self.edge_token, extra=extra, name=name)
        self._procs.append(proc)
        return url

    def start_agent(self, cluster, hub, connections=1, edge=None, standin_extra=(), agent_extra=()):
        """The agent of `cluster` (certificate through the bootstrap flow) dialing `hub` (a Hub or a
        list of them), with `connections` tunnels (None: the agent's default), up once one
        tunnel is. Its API server is `edge`, or a stand-in of its own started with
        `standin_extra`; `agent_extra`: more agent flags."""
        if edge is None:
            edge = self.start_standin(f"standin-{cluster}", standin_extra)
        kubeconfig = e2e.write_kubeconfig(self.work.join(f"{cluster}-agent.kubeconfig"), edge,
                                          self.pki.ca_cert, token=self.edge_token)
        flags = [] if connections is None else ["--hub-connections", str(connections)]
        flags += list(agent_extra)
        self._logs.append(f"agent-{cluster}.log")
        agent = e2e.Agent(self.work, self.pki, cluster, hub, kubeconfig, extra=flags,
                          certificate=self.platform.agent_certificate(cluster), timeout=40)
        self._procs.append(agent.proc)
        self.edges[cluster] = edge
        self.agents[cluster] = agent
        return agent

    def restart_agent(self, cluster):
        """Starts `cluster`'s agent again, as it was (after a test killed it)."""
        agent = self.agents[cluster].start()
        self._procs.append(agent.proc)
        return agent

    def edge_json(self, cluster, path):
        """What `cluster`'s stand-in answers to a GET of `path`, straight from the edge."""
        return e2e.https_json(self.edges[cluster] + path, self.edge_token, self.pki.ca_cert)[1]

    def request(self, hub, method, path, token=None, headers=None, body=None, binary=False):
        """One request on `hub`'s users' endpoint with a bearer token (`token`, by default the
        fleet's user's). `body`: bytes or text sent as is, anything else as JSON. Returns
        (status, headers with lower-case names, text; bytes when `binary`)."""
        host, port = hub.users.rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), timeout=20,
                                           context=ssl.create_default_context(cafile=self.pki.ca_cert))
        h = {"Authorization": f"Bearer {token or self.token}", **(headers or {})}
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            out = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, out if binary else out.decode(errors="replace")
        finally:
            conn.close()

    def get(self, hub, path):
        """A GET through `hub` as the fleet's user: (status, text); status 0 when the connection
        failed."""
        try:
            status, _, text = self.request(hub, "GET", path)
        except OSError as e:
            return 0, str(e)
        return status, text

    def close(self):
        """Stops every process, newest first, and the platform; prints the logs if `failed`."""
        try:
            for proc in reversed(self._procs):
                proc.kill()
            if self.platform:
                self.platform.close()
        finally:
            if self.failed:
                e2e.print_logs(self.work, self._logs)
            self.work.close()


def rounds(hubs, clusters):
    """Read targets for ReadLoop: every hub in turn, the next cluster after each round."""
    return [(hub, cluster) for cluster in clusters for hub in hubs]


class ReadLoop:
    """Reads in a thread of its own until stopped, going round `targets` ((hub, cluster) pairs):
    a GET of /clusters/CLUSTER`path` as the fleet's user. Counts the 200s in `ok`, keeps every
    other answer in `failed` as (cluster, status, Status message). A context manager, or
    start() and stop()."""

    def __init__(self, fleet, targets, path="/api/v1/namespaces/default/configmaps"):
        self.fleet = fleet
        self.targets = list(targets)
        self.path = path
        self.ok = 0
        self.failed = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(30)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __str__(self):
        return f"{self.ok} reads ok, {len(self.failed)} failed"

    def _run(self):
        for hub, cluster in itertools.cycle(self.targets):
            if self._stop.is_set():
                return
            status, body = self.fleet.get(hub, f"/clusters/{cluster}{self.path}")
            if status == 200:
                self.ok += 1
            else:
                self.failed.append((cluster, status, status_message(body)))


class FleetTestCase(unittest.TestCase):
    """Test cases sharing one Fleet, `fleet` (its hubs also as `hubs`), that the class's
    start_fleet() starts before the first test; it is stopped after the last (or a failed
    start), with the components' logs printed if anything failed."""

    fleet = None
    hubs = []

    @classmethod
    def start_fleet(cls, fleet):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        cls.fleet = Fleet()
        cls.hubs = cls.fleet.hubs
        cls.addClassCleanup(cls.fleet.close)
        try:
            cls.start_fleet(cls.fleet)
        except BaseException:
            cls.fleet.failed = True
            raise

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            self.fleet.failed = True
