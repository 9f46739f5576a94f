"""The hub cache end to end: reads answered from the cache must equal what the edge answers
(checked programmatically against the stand-in directly), kubectl shows the edge's columns,
watches resume and expire like the API server's, and an informer built on the Debian
python3-kubernetes client sees every change across an agent restart and a forced 410."""
import copy
import gzip
import re
import http.client
import json
import os
import ssl
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402

USER_TOKEN = "cache-user-token-0123456789"
EDGE_TOKEN = "cache-edge-token-0123456789"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


class Endpoint:
    """HTTPS requests to the hub (as a user) or to the stand-in (as the agent would)."""

    def __init__(self, base, token, ca):
        u = urllib.parse.urlparse(base)
        self.host, self.port, self.prefix = u.hostname, u.port, u.path
        self.token, self.ca = token, ca

    def request(self, method, path, body=None, accept="application/json", headers=None):
        ctx = ssl.create_default_context(cafile=self.ca)
        conn = http.client.HTTPSConnection(self.host, self.port, context=ctx, timeout=30)
        h = {"Authorization": f"Bearer {self.token}", "Accept": accept, **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        conn.request(method, self.prefix + path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        conn.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, raw

    def get(self, path, accept="application/json"):
        status, headers, raw = self.request("GET", path, accept=accept)
        return status, headers, json.loads(raw) if raw else None

    def watch(self, path, accept="application/json"):
        """Opens a watch; returns (conn, response) to read lines from."""
        ctx = ssl.create_default_context(cafile=self.ca)
        conn = http.client.HTTPSConnection(self.host, self.port, context=ctx, timeout=30)
        conn.request("GET", self.prefix + path,
                     headers={"Authorization": f"Bearer {self.token}", "Accept": accept})
        return conn, conn.getresponse()


def read_events(resp, count, timeout=20):
    """Reads `count` watch events (JSON lines) with a deadline."""
    events = []
    deadline = time.monotonic() + timeout
    buf = b""
    while len(events) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"got {len(events)} of {count} events: {events}")
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf and len(events) < count:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                events.append(json.loads(line))
    return events


def normalize(doc):
    """Drops what legitimately differs between two correct answers: continue tokens (opaque),
    Age cells (computed at print time), remainingItemCount with different page boundaries."""
    d = copy.deepcopy(doc)
    if isinstance(d, dict):
        md = d.get("metadata", {})
        if isinstance(md, dict):
            md.pop("continue", None)
        if d.get("kind") == "Table":
            cols = d.get("columnDefinitions") or []
            age = [i for i, c in enumerate(cols) if c.get("name") == "Age"]
            for row in d.get("rows") or []:
                for i in age:
                    row["cells"][i] = "<age>"
                # Relative times such as "2 (5s ago)" may differ by a second between two reads.
                row["cells"] = [re.sub(r"\([0-9a-z]+ ago\)", "(<ago>)", c) if isinstance(c, str) else c
                                for c in row["cells"]]
    return d


class CacheTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workdir()
        cls.procs = []
        try:
            cls.pki = e2e.Pki(cls.work.join("pki"))
            cls.standin, cls.standin_url = e2e.start_standin(
                cls.work, cls.pki, EDGE_TOKEN, extra=["--bookmark-interval", "1s", "--seed-pods", "300"])
            cls.procs.append(cls.standin)
            tokens = e2e.write_token_file(cls.work.join("tokens.csv"), [(USER_TOKEN, "carol", "u-3", [])])
            cls.hub = e2e.Hub(cls.work, cls.pki, tokens, extra=[
                "--cache-resources", "defaults,widgets.example.com",
                "--cache-window", "50", "--cache-bookmark-interval", "500ms",
                # Consistent reads wait for the cache (the stand-in's next bookmark, within 1 s)
                # and are never sent to the edge meanwhile: these tests check what the cache
                # answers. ChurningEdgeTest checks the hedge.
                "--cache-consistency-timeout", "3s", "--cache-hedge-after", "3s"])
            cls.procs.append(cls.hub.proc)
            cls.agent_kubeconfig = e2e.write_kubeconfig(cls.work.join("agent.kubeconfig"), cls.standin_url,
                                                        cls.pki.ca_cert, token=EDGE_TOKEN)
            cls.agent = e2e.Agent(cls.work, cls.pki, "edge-1", cls.hub, cls.agent_kubeconfig)
            cls.procs.append(cls.agent)  # the Agent: its process changes when a test restarts it
            cls.hub.wait_discovered("edge-1")
            cls.edge = Endpoint(cls.standin_url, EDGE_TOKEN, cls.pki.ca_cert)
            cls.via = Endpoint(cls.hub.cluster_url("edge-1"), USER_TOKEN, cls.pki.ca_cert)
            cls.kubeconfig = e2e.write_kubeconfig(cls.work.join("user.kubeconfig"), cls.hub.cluster_url("edge-1"),
                                                  cls.pki.ca_cert, token=USER_TOKEN)
            cls.direct_kubeconfig = e2e.write_kubeconfig(cls.work.join("direct.kubeconfig"), cls.standin_url,
                                                         cls.pki.ca_cert, token=EDGE_TOKEN)
            cls.wait_synced(["pods", "configmaps", "widgets.example.com", "namespaces"])
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.procs):
            (p.proc if isinstance(p, e2e.Agent) else p).kill()
        if getattr(cls, "failed", False):
            for name in ("hub.log", "agent-edge-1.log"):
                path = cls.work.join(name)
                if os.path.exists(path):
                    print(f"----- {name}", file=sys.stderr)
                    print(open(path, errors="replace").read()[-4000:], file=sys.stderr)
        cls.work.close()

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            type(self).failed = True

    @classmethod
    def cache_state(cls):
        ctx_host = cls.hub.admin
        conn = http.client.HTTPConnection(*ctx_host.rsplit(":", 1), timeout=10)
        conn.request("GET", "/debug/cache")
        data = json.loads(conn.getresponse().read())
        conn.close()
        return {t["resource"]: t for t in data["types"]}

    @classmethod
    def wait_synced(cls, resources):
        e2e.wait_until(lambda: all(cls.cache_state().get(r, {}).get("synced") for r in resources),
                       timeout=30, what=f"cache synced for {resources}")

    def compare(self, path, accept="application/json", served_from="cache"):
        s1, h1, cached = self.via.get(path, accept)
        s2, _, direct = self.edge.get(path, accept)
        self.assertEqual(h1.get("x-kubehub-served-from"), served_from, f"{path} was not served from the {served_from}")
        self.assertEqual(s1, s2, path)
        self.assertEqual(normalize(cached), normalize(direct), path)
        return cached

    def test_equivalence_battery(self):
        reads = [
            "/api/v1/pods?resourceVersion=0",
            "/api/v1/pods",
            "/api/v1/namespaces/default/pods",
            "/api/v1/namespaces/default/pods/db-0?resourceVersion=0",
            "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb",
            "/api/v1/namespaces/default/pods?labelSelector=app+in+(web,db),tier!%3Dbackend",
            "/api/v1/pods?labelSelector=!k8s-app",
            "/api/v1/pods?fieldSelector=metadata.name%3Dweb-1",
            "/api/v1/pods?fieldSelector=metadata.namespace%3Dkube-system",
            "/api/v1/namespaces",
            "/api/v1/namespaces/kube-system?resourceVersion=0",
            "/apis/example.com/v1/namespaces/default/widgets",
        ]
        for path in reads:
            with self.subTest(path=path):
                self.compare(path)
                self.compare(path, TABLE)
        # A consistent GET of one object is forwarded: the GET costs the edge one round trip,
        # as the probe for its resourceVersion would (hence no X-Kubehub-Served-From).
        for path in ("/api/v1/namespaces/default/pods/db-0", "/api/v1/namespaces/kube-system"):
            with self.subTest(path=path, consistent=True):
                self.compare(path, served_from=None)
                self.compare(path, TABLE, served_from=None)
        for inc in ("None", "Metadata", "Object"):
            self.compare(f"/api/v1/namespaces/default/pods?includeObject={inc}", TABLE)

    def test_not_found_is_the_edges_404(self):
        s1, h1, cached = self.via.get("/api/v1/namespaces/default/pods/nope?resourceVersion=0")
        s2, _, direct = self.edge.get("/api/v1/namespaces/default/pods/nope")
        self.assertEqual(h1.get("x-kubehub-served-from"), "cache")
        self.assertEqual((s1, cached), (s2, direct))

    def test_paging_with_continue_covers_the_list_once(self):
        names, cont, pages = [], "", 0
        while True:
            path = "/api/v1/pods?limit=2" + (f"&continue={urllib.parse.quote(cont)}" if cont else "")
            status, headers, page = self.via.get(path)
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("x-kubehub-served-from"), "cache")
            names += [i["metadata"]["namespace"] + "/" + i["metadata"]["name"] for i in page["items"]]
            pages += 1
            cont = page["metadata"].get("continue", "")
            if not cont:
                break
            self.assertEqual(page["metadata"]["remainingItemCount"] + len(names),
                             len(self.edge.get("/api/v1/pods")[2]["items"]))
        _, _, direct = self.edge.get("/api/v1/pods")
        self.assertEqual(names, [i["metadata"]["namespace"] + "/" + i["metadata"]["name"] for i in direct["items"]])
        self.assertGreater(pages, 1)

    def test_kubectl_shows_the_edges_columns(self):
        for args in (["get", "pods", "-A"], ["get", "widgets"], ["get", "pods", "-o", "wide", "-n", "default"],
                     ["get", "ns"]):
            with self.subTest(args=args):
                cached = e2e.kubectl(self.kubeconfig, *args).stdout.splitlines()
                direct = e2e.kubectl(self.direct_kubeconfig, *args).stdout.splitlines()
                self.assertEqual(cached[0].split(), direct[0].split())
                self.assertEqual(len(cached), len(direct))
        header = e2e.kubectl(self.kubeconfig, "get", "widgets").stdout.splitlines()[0]
        self.assertGreater(len(header.split()), 2, "printer columns of the custom resource, not NAME/AGE")

    def test_a_large_answer_goes_gzipped_when_asked_as_from_the_edge(self):
        # The API server's rule: over 128 KiB, and Accept-Encoding has the token "gzip".
        gz = {"Accept-Encoding": "gzip"}
        path = "/api/v1/pods?resourceVersion=0"
        status, h, plain = self.via.request("GET", path)
        self.assertEqual((status, h.get("x-kubehub-served-from")), (200, "cache"))
        self.assertNotIn("content-encoding", h)
        self.assertGreater(len(plain), 3 * 256 * 1024, "several of the encoder's chunks")
        status, h, zipped = self.via.request("GET", path, headers=gz)
        self.assertEqual((status, h.get("x-kubehub-served-from")), (200, "cache"))
        self.assertEqual((h.get("content-encoding"), h.get("vary")), ("gzip", "Accept-Encoding"))
        self.assertLess(len(zipped) * 5, len(plain))
        from_cache = json.loads(gzip.decompress(zipped))
        self.assertEqual(normalize(from_cache), normalize(json.loads(plain)))
        _, h, edge_zipped = self.edge.request("GET", "/api/v1/pods", headers=gz)
        self.assertEqual(h.get("content-encoding"), "gzip")
        self.assertEqual(normalize(from_cache), normalize(json.loads(gzip.decompress(edge_zipped))))
        # Not the token "gzip", and small answers: plain, as from the API server.
        for headers, p in (({"Accept-Encoding": "gzip;q=1"}, path),
                           ({"Accept-Encoding": "deflate"}, path),
                           (gz, "/api/v1/namespaces?resourceVersion=0")):
            status, h, body = self.via.request("GET", p, headers=headers)
            self.assertEqual((status, h.get("x-kubehub-served-from")), (200, "cache"), p)
            self.assertNotIn("content-encoding", h, (headers, p))
            json.loads(body)
        # One large object answered whole (Content-Length, not chunked).
        big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big-cached", "namespace": "default"},
               "data": {f"k{i:04d}": "z" * 300 for i in range(600)}}
        status, _, raw = self.edge.request("POST", "/api/v1/namespaces/default/configmaps", big)
        self.assertEqual(status, 201, raw[:300])
        one = "/api/v1/namespaces/default/configmaps/big-cached?resourceVersion=0"
        e2e.wait_until(lambda: self.via.get(one)[0] == 200, what="the big ConfigMap in the cache")
        status, h, zipped = self.via.request("GET", one, headers=gz)
        self.assertEqual((status, h.get("x-kubehub-served-from"), h.get("content-encoding")),
                         (200, "cache", "gzip"))
        self.assertEqual(int(h["content-length"]), len(zipped))
        self.assertEqual(json.loads(gzip.decompress(zipped))["data"], big["data"])
        self.edge.request("DELETE", "/api/v1/namespaces/default/configmaps/big-cached")
        # kubectl asks for gzip itself: a consistent LIST from the cache, inflated by Go's client
        # (which hides Content-Encoding; Vary is the mark).
        r = e2e.kubectl(self.kubeconfig, "get", "pods", "-A", "-o", "json", "-v=8")
        self.assertEqual(len(json.loads(r.stdout)["items"]), len(from_cache["items"]))
        self.assertRegex(r.stderr, r"X-Kubehub-Served-From:? +cache")
        self.assertRegex(r.stderr, r"Vary:? +Accept-Encoding")

    def test_write_then_consistent_read_sees_it(self):
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rw-check", "namespace": "default"},
                "data": {"v": "1"}}
        status, _, raw = self.via.request("POST", "/api/v1/namespaces/default/configmaps", body)
        self.assertEqual(status, 201, raw[:300])
        status, headers, got = self.via.get("/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Drw-check")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("x-kubehub-served-from"), "cache")
        self.assertEqual([i["data"]["v"] for i in got["items"]], ["1"])
        # The probe for the edge's resourceVersion lists one empty namespace, whose cost does not
        # grow with the collection (a LIST with limit=1 across all namespaces counts the rest).
        probes = [r["target"] for r in e2e.standin_requests(self.standin_url, EDGE_TOKEN, self.pki.ca_cert)
                  if r["target"].startswith("/api/v1/namespaces/kubehub-rv-probe/")]
        self.assertIn("/api/v1/namespaces/kubehub-rv-probe/configmaps?limit=1", probes)
        # The GET of the object itself is forwarded, and sees it too.
        status, headers, got = self.via.get("/api/v1/namespaces/default/configmaps/rw-check")
        self.assertEqual(status, 200)
        self.assertEqual(got["data"]["v"], "1")
        self.via.request("DELETE", "/api/v1/namespaces/default/configmaps/rw-check")

    def test_watch_from_resource_version_and_bookmarks(self):
        _, _, lst = self.via.get("/api/v1/namespaces/default/configmaps")
        rv = lst["metadata"]["resourceVersion"]
        conn, resp = self.via.watch(f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}"
                                    "&allowWatchBookmarks=true")
        self.assertEqual(resp.getheader("X-Kubehub-Served-From"), "cache")
        dconn, dresp = self.edge.watch(f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}")
        self.via.request("POST", "/api/v1/namespaces/default/configmaps",
                         {"metadata": {"name": "watched-1"}, "data": {"a": "b"}})
        got = [e for e in read_events(resp, 3) if e["type"] != "BOOKMARK"]
        want = read_events(dresp, 1)
        conn.close()
        dconn.close()
        self.assertEqual(got[0]["type"], "ADDED")
        self.assertEqual(got[0], want[0])
        self.via.request("DELETE", "/api/v1/namespaces/default/configmaps/watched-1")
        # Bookmarks arrive on a quiet watch.
        conn, resp = self.via.watch("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=0"
                                    "&allowWatchBookmarks=true&labelSelector=nothing%3Dhere")
        events = read_events(resp, 1, timeout=10)
        conn.close()
        self.assertEqual(events[0]["type"], "BOOKMARK")

    def test_watch_too_old_is_410(self):
        for i in range(60):  # more events than the window of 50
            self.via.request("POST", "/api/v1/namespaces/default/configmaps",
                             {"metadata": {"name": f"churn-{i}"}, "data": {}})
        for i in range(60):
            self.via.request("DELETE", f"/api/v1/namespaces/default/configmaps/churn-{i}")
        e2e.wait_until(lambda: self.cache_state()["configmaps"]["objects"] == len(
            self.edge.get("/api/v1/configmaps")[2]["items"]), what="cache caught up")
        conn, resp = self.via.watch("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=2")
        self.assertEqual(resp.status, 200)
        ev = read_events(resp, 1)[0]
        conn.close()
        self.assertEqual(ev["type"], "ERROR")
        self.assertEqual(ev["object"]["code"], 410)

    def test_zz_informer_sees_every_change_across_agent_restart_and_410(self):
        # The Debian python3-kubernetes client, list+watch the way informers do.
        script = os.path.join(os.path.dirname(__file__), "informer.py")
        out_path = self.work.join("informer.out")
        proc = e2e.Process(["/usr/bin/python3", script, self.kubeconfig, out_path], ready=r"informer ready",
                           log_path=self.work.join("informer.log"))
        try:
            def create(name):
                status, _, raw = self.via.request("POST", "/api/v1/namespaces/default/configmaps",
                                                  {"metadata": {"name": name, "labels": {"informer": "yes"}},
                                                   "data": {}})
                self.assertEqual(status, 201, raw[:200])

            def informer_names():
                try:
                    with open(out_path) as f:
                        return set(json.load(f))
                except (OSError, ValueError):
                    return None

            create("inf-1")
            e2e.wait_until(lambda: "inf-1" in (informer_names() or ()), what="inf-1 seen")
            # Agent restart: the edge changes meanwhile (written directly at the edge).
            self.agent.proc.kill()
            self.edge.request("POST", "/api/v1/namespaces/default/configmaps",
                              {"metadata": {"name": "inf-2", "labels": {"informer": "yes"}}, "data": {}})
            self.agent.start()
            e2e.wait_until(lambda: "inf-2" in (informer_names() or ()), timeout=30, what="inf-2 seen after restart")
            # A forced 410: the edge forgets its history; the hub relists, the informer recovers.
            self.agent.proc.kill()
            self.edge.request("POST", "/api/v1/namespaces/default/configmaps",
                              {"metadata": {"name": "inf-3", "labels": {"informer": "yes"}}, "data": {}})
            self.edge.request("DELETE", "/api/v1/namespaces/default/configmaps/inf-1")
            self.edge.request("POST", "/standin/compact")
            self.agent.start()
            want = {"inf-2", "inf-3"}
            e2e.wait_until(lambda: informer_names() == want, timeout=40, what=f"informer state {want}")
        finally:
            proc.kill()


if __name__ == "__main__":
    unittest.main()


class CacheBudgetTest(unittest.TestCase):
    """A cluster whose cache outgrows --cache-max-bytes drops types to forwarding, and says so."""

    def test_over_budget_types_fall_back_to_forwarding(self):
        work = e2e.Workdir()
        procs = []
        try:
            pki = e2e.Pki(work.join("pki"))
            standin, url = e2e.start_standin(work, pki, EDGE_TOKEN, extra=["--seed-pods", "200"])
            procs.append(standin)
            tokens = e2e.write_token_file(work.join("tokens.csv"), [(USER_TOKEN, "carol", "u-3", [])])
            hub = e2e.Hub(work, pki, tokens, extra=["--cache-max-bytes", "50000"])
            procs.append(hub.proc)
            kc = e2e.write_kubeconfig(work.join("agent.kubeconfig"), url, pki.ca_cert, token=EDGE_TOKEN)
            agent = e2e.Agent(work, pki, "edge-1", hub, kc)
            procs.append(agent.proc)
            hub.proc.wait_for_log(r"cache over its memory budget: type falls back to forwarding\" cluster=edge-1 "
                                  r"type=/v1/pods", timeout=30)

            def drops():
                conn = http.client.HTTPConnection(*hub.admin.rsplit(":", 1), timeout=5)
                conn.request("GET", "/metrics")
                text = conn.getresponse().read().decode()
                conn.close()
                m = re.search(r'kubehub_hub_cache_budget_drops_total\{cluster="edge-1"\} (\d+)', text)
                return int(m.group(1)) if m else 0
            self.assertGreaterEqual(drops(), 1)
            via = Endpoint(hub.cluster_url("edge-1"), USER_TOKEN, pki.ca_cert)
            status, headers, pods = via.get("/api/v1/namespaces/default/pods?resourceVersion=0")
            self.assertEqual(status, 200)
            self.assertNotEqual(headers.get("x-kubehub-served-from"), "cache")
            self.assertGreaterEqual(len(pods["items"]), 200)
        finally:
            for p in reversed(procs):
                p.kill()
            work.close()


def start_edge(work, pki, procs, standin_extra=(), hub_extra=()):
    """A stand-in, a hub (user carol with USER_TOKEN) and the agent of edge-1 between them, each
    appended to `procs`; returns (the stand-in's URL, hub, agent)."""
    standin, url = e2e.start_standin(work, pki, EDGE_TOKEN, extra=list(standin_extra))
    procs.append(standin)
    tokens = e2e.write_token_file(work.join("tokens.csv"), [(USER_TOKEN, "carol", "u-3", [])])
    hub = e2e.Hub(work, pki, tokens, extra=list(hub_extra))
    procs.append(hub.proc)
    kc = e2e.write_kubeconfig(work.join("agent.kubeconfig"), url, pki.ca_cert, token=EDGE_TOKEN)
    agent = e2e.Agent(work, pki, "edge-1", hub, kc)
    procs.append(agent.proc)
    return url, hub, agent


class DetachedCacheTest(unittest.TestCase):
    """A cluster's cache outlives its tunnel for --cache-keep-detached (a returning agent
    resumes without a relist), then goes with its objects; a cluster back after that gets a
    fresh cache (one LIST per type)."""

    def test_a_cache_without_its_tunnel_is_dropped_after_keep(self):
        work = e2e.Workdir()
        procs = []
        agent = None
        try:
            pki = e2e.Pki(work.join("pki"))
            _, hub, agent = start_edge(work, pki, procs, ["--seed-pods", "50"],
                                       ["--cache-keep-detached", "6s", "--cache-resources", "pods"])
            via = Endpoint(hub.cluster_url("edge-1"), USER_TOKEN, pki.ca_cert)
            pods = "/api/v1/namespaces/default/pods?resourceVersion=0"
            e2e.wait_until(lambda: via.get(pods)[1].get("x-kubehub-served-from") == "cache",
                           timeout=30, what="pods cached")

            def held(state):
                return e2e.metric_total(hub.admin, "kubehub_hub_cache_clusters", {"state": state})

            def objects():
                return e2e.metric_total(hub.admin, "kubehub_hub_cache_objects",
                                        {"cluster": "edge-1", "resource": "pods"})

            def lists():
                return e2e.metric_total(hub.admin, "kubehub_hub_cache_lists_total",
                                        {"cluster": "edge-1", "resource": "pods"})
            self.assertEqual((held("attached"), held("detached")), (1, 0))
            self.assertGreaterEqual(objects(), 50)
            self.assertEqual(lists(), 1)

            # Back within the time kept: the same cache, its watch resumed, no second LIST.
            agent.proc.stop()
            e2e.wait_until(lambda: held("detached") == 1, timeout=10, what="the cache counted as detached")
            self.assertGreaterEqual(objects(), 50, "the cache went while the agent was away for less than keep")
            agent.start()
            e2e.wait_until(lambda: held("attached") == 1, timeout=30, what="the cache attached again")
            self.assertEqual(lists(), 1, "an agent back within --cache-keep-detached relisted")

            # Away for longer: the cache and its objects go.
            mark = len(hub.proc.log_text())
            agent.proc.stop()
            t0 = time.monotonic()
            hub.proc.wait_for_log(r"cache dropped: no tunnel from the cluster for --cache-keep-detached\" "
                                  r"cluster=edge-1 objects=5\d", timeout=20, start=mark)
            self.assertGreaterEqual(time.monotonic() - t0, 5.5, "dropped before --cache-keep-detached")
            self.assertIsNone(objects(), "the dropped cluster's objects are still reported")
            self.assertEqual((held("attached"), held("detached")), (0, 0))
            self.assertEqual(e2e.metric_total(hub.admin, "kubehub_hub_cache_clusters_dropped_total"), 1)

            # Back after that: a fresh cache, listed once, serving again.
            agent.start()
            e2e.wait_until(lambda: via.get(pods)[1].get("x-kubehub-served-from") == "cache",
                           timeout=30, what="pods cached again")
            self.assertEqual(lists(), 1)
            self.assertGreaterEqual(objects(), 50)
        finally:
            if agent is not None:
                agent.proc.kill()  # restarted: not the process in procs
            for p in reversed(procs):
                p.kill()
            work.close()


class EmptyAtSyncTest(unittest.TestCase):
    """A type with no objects when the cache listed it cannot tell whether the edge prints
    kind/apiVersion on list items; the cache learns it at the type's first object and answers
    typed LISTs exactly as the edge does (built-in types: items without them)."""

    def test_first_objects_of_an_empty_type_are_listed_in_the_edges_shape(self):
        work = e2e.Workdir()
        procs = []
        try:
            pki = e2e.Pki(work.join("pki"))
            url, hub, _ = start_edge(work, pki, procs, ["--seed=false"])
            hub.wait_discovered("edge-1")
            edge = Endpoint(url, EDGE_TOKEN, pki.ca_cert)
            via = Endpoint(hub.cluster_url("edge-1"), USER_TOKEN, pki.ca_cert)
            path = "/api/v1/namespaces/default/configmaps"
            e2e.wait_until(lambda: via.get(path + "?resourceVersion=0")[1].get("x-kubehub-served-from") == "cache",
                           timeout=30, what="configmaps cached (empty)")
            status, _, raw = edge.request("POST", "/api/v1/namespaces", {"metadata": {"name": "default"}})
            self.assertEqual(status, 201, raw[:300])
            for i in range(3):
                status, _, raw = edge.request("POST", path, {"metadata": {"name": f"c{i}"}, "data": {"i": str(i)}})
                self.assertEqual(status, 201, raw[:300])

            def cached_list():
                status, headers, got = via.get(path + "?resourceVersion=0")
                served = headers.get("x-kubehub-served-from") == "cache"
                return (got if served and status == 200 and len(got["items"]) == 3 else None)
            got = e2e.wait_until(cached_list, timeout=30, what="the three ConfigMaps served from the cache")
            _, _, direct = edge.get(path)
            self.assertNotIn("kind", direct["items"][0], "the stand-in prints built-in list items bare")
            self.assertEqual(got["items"], direct["items"])
            self.assertEqual(normalize(got)["items"], normalize(direct)["items"])
            # A GET of one object from the cache still carries its kind.
            status, _, one = via.get(path + "/c1?resourceVersion=0")
            self.assertEqual((status, one["kind"], one["apiVersion"]), (200, "ConfigMap", "v1"))
        finally:
            for p in reversed(procs):
                p.kill()
            work.close()


class ChurningEdgeTest(unittest.TestCase):
    """An edge shaped like a real cluster, whose kubelets renew their node Leases (here every
    100 ms instead of 10 s): the edge's resourceVersion moves while the cached types stay quiet.
    The API offers no way to learn that a quiet type's watch has nothing between its last event
    and the edge's newest write, so a consistent read must not come from that store: it is
    forwarded, and is as current as the edge, while reads at resourceVersion=0 still come from
    the cache."""

    def test_consistent_reads_stay_current_while_leases_move_the_edge(self):
        work = e2e.Workdir()
        procs = []
        try:
            pki = e2e.Pki(work.join("pki"))
            # A long consistency timeout: a read the cache cannot confirm must go to the edge after
            # --cache-hedge-after (2 ms), not after this.
            url, hub, _ = start_edge(work, pki, procs, ["--node-lease-renew", "100ms", "--seed-pods", "20"],
                                     ["--cache-consistency-timeout", "30s"])
            hub.wait_discovered("edge-1")
            edge = Endpoint(url, EDGE_TOKEN, pki.ca_cert)
            via = Endpoint(hub.cluster_url("edge-1"), USER_TOKEN, pki.ca_cert)
            user_kc = e2e.write_kubeconfig(work.join("user.kubeconfig"), hub.cluster_url("edge-1"), pki.ca_cert,
                                           token=USER_TOKEN)

            # The kubelets' Leases, as kubectl shows them through the hub: the Ready nodes' move,
            # the NotReady node's does not.
            out = e2e.kubectl(user_kc, "get", "leases", "-n", "kube-node-lease").stdout.splitlines()
            self.assertEqual(out[0].split(), ["NAME", "HOLDER", "AGE"])
            self.assertEqual([line.split()[:2] for line in out[1:]],
                             [[f"standin-node-{i}"] * 2 for i in (1, 2, 3)])
            leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"

            def lease(node):
                status, _, got = edge.get(leases + node)
                self.assertEqual(status, 200, got)
                return got
            first = {n: lease(n) for n in ("standin-node-1", "standin-node-3")}
            time.sleep(0.5)
            ready, quiet = lease("standin-node-1"), lease("standin-node-3")
            self.assertGreater(ready["spec"]["renewTime"], first["standin-node-1"]["spec"]["renewTime"])
            self.assertGreater(int(ready["metadata"]["resourceVersion"]),
                               int(first["standin-node-1"]["metadata"]["resourceVersion"]))
            self.assertEqual(quiet["metadata"]["resourceVersion"],
                             first["standin-node-3"]["metadata"]["resourceVersion"])
            self.assertEqual(ready["metadata"]["ownerReferences"][0]["kind"], "Node")
            self.assertIn("kubelet", [m["manager"] for m in ready["metadata"]["managedFields"]])

            # Namespaces never change here, yet a consistent LIST of them cannot be confirmed
            # current: forwarded every time, and equal to the edge's.
            namespaces = "/api/v1/namespaces"
            e2e.wait_until(lambda: via.get(namespaces + "?resourceVersion=0")[1].get("x-kubehub-served-from")
                           == "cache", timeout=30, what="namespaces cached")
            def waits(outcome):
                return e2e.metric_total(hub.admin, "kubehub_hub_cache_wait_seconds_count", {"outcome": outcome})

            for _ in range(5):
                status, headers, got = via.get(namespaces)
                self.assertEqual(status, 200)
                self.assertIsNone(headers.get("x-kubehub-served-from"),
                                  "a consistent LIST came from a store the edge has moved past")
                self.assertEqual(sorted(i["metadata"]["name"] for i in got["items"]),
                                 sorted(i["metadata"]["name"] for i in edge.get(namespaces)[2]["items"]))
            status, headers, _ = via.get(namespaces + "?resourceVersion=0")
            self.assertEqual((status, headers.get("x-kubehub-served-from")), (200, "cache"))
            # The first of them went to the edge while it waited for the store (and the edge
            # answered first); the others without probing, the store unmoved since. None sat out
            # the 30 s timeout, and each reached the edge once: the hub carried on with the
            # hedge's stream rather than sending the read again (ten: five through the hub, five
            # straight to the edge).
            seen = [r for r in e2e.standin_requests(url, EDGE_TOKEN, pki.ca_cert) if r["target"] == namespaces]
            self.assertEqual(len(seen), 10, seen)
            self.assertGreaterEqual(waits("edge_first"), 1)
            self.assertGreaterEqual(waits("known_behind"), 1)
            self.assertEqual(waits("timed_out"), 0)

            # Written at the edge, read at once through the hub: always there, from whichever
            # side answered.
            configmaps = "/api/v1/namespaces/default/configmaps"
            answered = {"cache": 0, "edge": 0}
            for i in range(15):
                status, _, raw = edge.request("POST", configmaps, {"metadata": {"name": f"churn-{i}"}})
                self.assertEqual(status, 201, raw[:300])
                status, headers, got = via.get(configmaps)
                self.assertEqual(status, 200)
                self.assertIn(f"churn-{i}", [c["metadata"]["name"] for c in got["items"]],
                              "a consistent LIST through the hub missed a write the edge had acknowledged")
                answered["cache" if headers.get("x-kubehub-served-from") == "cache" else "edge"] += 1
            print(f"consistent LISTs after a write at a churning edge: {answered}", file=sys.stderr)
            print("waits for the cache by outcome: " + str({o: waits(o) for o in (
                "current", "caught_up", "edge_first", "timed_out", "known_behind", "probe_failed")}),
                file=sys.stderr)
            self.assertEqual(waits("timed_out"), 0)
        finally:
            for p in reversed(procs):
                p.kill()
            work.close()
