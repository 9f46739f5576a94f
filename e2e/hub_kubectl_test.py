"""End to end through the real binaries: kubectl -> hub -> tunnel -> agent -> edge API server
stand-in. Scenarios of the spine issue: reads, writes, watch, logs, exec, discovery, refusals,
and an agent killed mid-watch."""
import gzip
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402

USER_TOKEN = "user-token-0123456789"
EDGE_TOKEN = "edge-agent-token-0123456789"


class Stack:
    """stand-in + hub + agent for cluster edge-1, plus kubeconfigs."""

    def __init__(self):
        self.work = e2e.Workdir()
        self.procs = []
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self):
        self.pki = e2e.Pki(self.work.join("pki"))
        self.standin, self.standin_url = e2e.start_standin(self.work, self.pki, EDGE_TOKEN)
        self.procs.append(self.standin)
        tokens = e2e.write_token_file(self.work.join("tokens.csv"),
                                      [(USER_TOKEN, "alice", "u-1", ["devs"])])
        # The spine's paths: every request forwarded (the cache has its own tests). Tunnels on a
        # thread of their own: every request crosses from the user's thread to the tunnel's and
        # back (the default shares threads; the other suites run that).
        self.hub = e2e.Hub(self.work, self.pki, tokens,
                           extra=["--cache-resources", "none", "--tunnel-threads", "1"])
        self.procs.append(self.hub.proc)
        self.agent_kubeconfig = e2e.write_kubeconfig(self.work.join("agent-kubeconfig.json"),
                                                     self.standin_url, self.pki.ca_cert,
                                                     token=EDGE_TOKEN)
        self.agent = e2e.Agent(self.work, self.pki, "edge-1", self.hub, self.agent_kubeconfig)
        self.procs.append(self.agent)
        self.hub.wait_discovered("edge-1")
        self.kubeconfig = e2e.write_kubeconfig(self.work.join("user.kubeconfig"),
                                               self.hub.cluster_url("edge-1"), self.pki.ca_cert,
                                               token=USER_TOKEN)

    def kubectl(self, *args, **kw):
        return e2e.kubectl(self.kubeconfig, *args, **kw)

    def raw(self, method, path, headers=None, body=None, token=USER_TOKEN):
        """One HTTPS request to the hub; returns (status, headers, body)."""
        ctx = ssl.create_default_context(cafile=self.pki.ca_cert)
        host, port = self.hub.users.rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in h.items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, dict(r.getheaders()), data

    def edge_requests(self):
        """What the edge API server saw (its test-only request log)."""
        ctx = ssl.create_default_context(cafile=self.pki.ca_cert)
        host, port = self.standin_url[len("https://"):].rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
        conn.request("GET", "/standin/requests", headers={"Authorization": f"Bearer {EDGE_TOKEN}"})
        data = json.loads(conn.getresponse().read())
        conn.close()
        return data

    def close(self):
        for p in reversed(self.procs):
            (p.proc if isinstance(p, e2e.Agent) else p).kill()
        if os.environ.get("KUBEHUB_E2E_SHOW_LOGS") == "1" or getattr(self, "failed", False):
            for name in ("standin.log", "hub.log", "agent-edge-1.log"):
                path = self.work.join(name)
                if os.path.exists(path):
                    print(f"----- {name} (last 3000 bytes)", file=sys.stderr)
                    print(open(path, errors="replace").read()[-3000:], file=sys.stderr)
        self.work.close()


class HubKubectlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Stack()

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            self.s.failed = True  # print the components' logs at the end

    def test_hub_runs_the_threads_asked_for_and_refuses_bad_counts(self):
        started = open(self.s.work.join("hub.log")).read()
        self.assertRegex(started, r'msg="hub started".* tunnel_threads=1 ')
        for flag, value in (("--tunnel-threads", "-1"), ("--tunnel-threads", "300"), ("--threads", "300")):
            r = subprocess.run([*self.s.hub.proc.args, f"{flag}={value}"], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 2, (flag, value, r.stderr[-500:]))
            self.assertIn(f"{flag} must be", r.stderr)

    def test_get_namespaces_and_pods_all_namespaces(self):
        out = self.s.kubectl("get", "ns").stdout
        self.assertIn("default", out)
        self.assertIn("kube-system", out)
        self.assertRegex(out.splitlines()[0], r"^NAME\s+STATUS\s+AGE")
        pods = self.s.kubectl("get", "pods", "-A").stdout
        self.assertRegex(pods.splitlines()[0], r"^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE")
        self.assertGreater(len(pods.splitlines()), 1)

    def test_api_resources_matches_the_edge(self):
        out = self.s.kubectl("api-resources").stdout
        for name in ("pods", "configmaps", "deployments", "widgets", "namespaces"):
            self.assertRegex(out, rf"(?m)^{name}\s")
        direct_kubeconfig = e2e.write_kubeconfig(self.s.work.join("direct.kubeconfig"),
                                                 self.s.standin_url, self.s.pki.ca_cert,
                                                 token=EDGE_TOKEN)
        direct = e2e.kubectl(direct_kubeconfig, "api-resources").stdout
        self.assertEqual(sorted(out.splitlines()), sorted(direct.splitlines()))

    def test_apply_get_delete(self):
        manifest = self.s.work.join("cm.yaml")
        with open(manifest, "w") as f:
            f.write("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: through-hub\n"
                    "  namespace: default\ndata:\n  greeting: hello\n")
        out = self.s.kubectl("apply", "-f", manifest).stdout
        self.assertIn("configmap/through-hub created", out)
        with open(manifest, "w") as f:
            f.write("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: through-hub\n"
                    "  namespace: default\ndata:\n  greeting: bonjour\n")
        self.assertIn("configured", self.s.kubectl("apply", "-f", manifest).stdout)
        got = json.loads(self.s.kubectl("get", "cm", "through-hub", "-o", "json").stdout)
        self.assertEqual(got["data"]["greeting"], "bonjour")
        self.assertIn('"through-hub" deleted', self.s.kubectl("delete", "cm", "through-hub").stdout)
        r = self.s.kubectl("get", "cm", "through-hub", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('configmaps "through-hub" not found', r.stderr)

    def test_watch_sees_an_update_made_meanwhile(self):
        self.s.kubectl("create", "configmap", "watched", "--from-literal=a=1")
        proc = subprocess.Popen([e2e.KUBECTL, "--kubeconfig", self.s.kubeconfig, "get", "cm", "-w",
                                 "--field-selector=metadata.name=watched", "-o",
                                 "custom-columns=NAME:.metadata.name,V:.data.a"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "HOME": self.s.work.path})
        lines = []
        reader = threading.Thread(target=lambda: [lines.append(l) for l in proc.stdout], daemon=True)
        reader.start()
        try:
            e2e.wait_until(lambda: any("watched" in l and " 1" in l for l in lines), what="initial row")
            self.s.kubectl("patch", "cm", "watched", "-p", '{"data":{"a":"2"}}')
            e2e.wait_until(lambda: any("watched" in l and " 2" in l for l in lines), what="updated row")
        finally:
            proc.kill()
            proc.wait(10)
            self.s.kubectl("delete", "cm", "watched", check=False)

    def test_logs_and_logs_follow(self):
        pod = self.s.kubectl("get", "pods", "-n", "default", "-o", "jsonpath={.items[0].metadata.name}").stdout
        self.assertTrue(pod)
        out = self.s.kubectl("logs", pod, "-n", "default", "--tail=3").stdout
        self.assertTrue(out.strip())
        proc = subprocess.Popen([e2e.KUBECTL, "--kubeconfig", self.s.kubeconfig, "logs", "-f", pod,
                                 "-n", "default"], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "HOME": self.s.work.path})
        lines = []
        reader = threading.Thread(target=lambda: [lines.append(l) for l in proc.stdout], daemon=True)
        reader.start()
        try:
            e2e.wait_until(lambda: len(lines) >= 2, timeout=30, what="followed log lines")
        finally:
            proc.kill()
            proc.wait(10)

    def test_exec_echo_and_stdin(self):
        pod = self.s.kubectl("get", "pods", "-n", "default", "-o", "jsonpath={.items[0].metadata.name}").stdout
        out = self.s.kubectl("exec", pod, "-n", "default", "--", "echo", "hi").stdout
        self.assertEqual(out, "hi\n")
        out = self.s.kubectl("exec", "-i", pod, "-n", "default", "--", "cat", input="data through the tunnel\n").stdout
        self.assertEqual(out, "data through the tunnel\n")

    def test_wrong_token_is_401(self):
        bad = e2e.write_kubeconfig(self.s.work.join("bad.kubeconfig"), self.s.hub.cluster_url("edge-1"),
                                   self.s.pki.ca_cert, token="not-a-valid-token")
        r = e2e.kubectl(bad, "get", "ns", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Unauthorized", r.stderr)
        status, _, body = self.s.raw("GET", "/clusters/edge-1/api/v1/namespaces", token=None)
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(body)["kind"], "Status")

    def test_unknown_cluster_is_503_naming_it(self):
        other = e2e.write_kubeconfig(self.s.work.join("other.kubeconfig"), self.s.hub.cluster_url("nowhere"),
                                     self.s.pki.ca_cert, token=USER_TOKEN)
        r = e2e.kubectl(other, "get", "ns", check=False)
        self.assertNotEqual(r.returncode, 0)
        status, _, body = self.s.raw("GET", "/clusters/nowhere/api/v1/namespaces")
        self.assertEqual(status, 503)
        self.assertIn('cluster "nowhere"', json.loads(body)["message"])

    def test_path_tricks_are_refused(self):
        for path in ("/clusters/edge-1/../nowhere/api/v1/namespaces",
                     "/clusters/edge-1/api/v1/namespaces/%2e%2e/secrets",
                     "/clusters/edge-1/api%2Fv1/namespaces",
                     "/clusters/edge-1//api/v1/namespaces",
                     "/api/v1/namespaces"):
            status, _, body = self.s.raw("GET", path)
            self.assertIn(status, (400, 404), path)
            self.assertEqual(json.loads(body)["kind"], "Status", path)

    def test_impersonation_and_credentials_never_reach_the_edge(self):
        who = json.loads(self.s.kubectl("auth", "whoami", "-o", "json", "--as", "admin",
                                        "--as-group", "system:masters").stdout)
        info = who["status"]["userInfo"]
        # The edge sees the hub's user, impersonated by the hub, never what the user asked for.
        self.assertEqual(info["username"], "alice")
        self.assertNotIn("system:masters", info.get("groups", []))
        self.assertIn("kubehub:group:devs", info.get("groups", []))
        for req in self.s.edge_requests():
            pairs = [(k.lower(), v) for k, v in req.get("headerList", [])]
            users = [v for k, v in pairs if k == "impersonate-user"]
            groups = [v for k, v in pairs if k == "impersonate-group"]
            self.assertTrue(all(u == "alice" for u in users), req)
            self.assertNotIn("system:masters", groups, req)
            auth = [v for k, v in pairs if k == "authorization"]
            self.assertTrue(all(USER_TOKEN not in a for a in auth), req)

    def test_request_body_streams_through(self):
        big = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "big-body", "namespace": "default"},
               "data": {"blob": "x" * (600 * 1024)}}
        status, _, body = self.s.raw("POST", "/clusters/edge-1/api/v1/namespaces/default/configmaps",
                                     {"Content-Type": "application/json"}, json.dumps(big).encode())
        self.assertEqual(status, 201, body[:300])
        got = json.loads(self.s.kubectl("get", "cm", "big-body", "-o", "json").stdout)
        self.assertEqual(len(got["data"]["blob"]), 600 * 1024)
        self.s.kubectl("delete", "cm", "big-body")

    def test_a_large_answer_passes_gzipped_as_the_edge_sent_it(self):
        # A real API server gzips an object over 128 KiB when Accept-Encoding has "gzip" (Go's
        # client, so kubectl, asks for it): the answer crosses the tunnel and the hub compressed,
        # headers and all, and reads the same as the plain one.
        data = {f"key-{i:04d}": f"value {i} " + "y" * 200 for i in range(800)}
        cm = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "big-gzip", "namespace": "default"}, "data": data}
        status, _, body = self.s.raw("POST", "/clusters/edge-1/api/v1/namespaces/default/configmaps",
                                     {"Content-Type": "application/json"}, json.dumps(cm).encode())
        self.assertEqual(status, 201, body[:300])
        path = "/clusters/edge-1/api/v1/namespaces/default/configmaps/big-gzip"
        status, headers, zipped = self.s.raw("GET", path, {"Accept-Encoding": "gzip"})
        headers = {k.lower(): v for k, v in headers.items()}
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-encoding"), "gzip", headers)
        self.assertEqual(headers.get("vary"), "Accept-Encoding", headers)
        status, headers, plain = self.s.raw("GET", path)
        self.assertNotIn("content-encoding", {k.lower() for k in headers})
        self.assertGreater(len(plain), 160 * 1024)
        self.assertLess(len(zipped) * 4, len(plain))
        self.assertEqual(gzip.decompress(zipped), plain)
        self.assertEqual(json.loads(plain)["data"], data)
        # kubectl asks for gzip by itself and reads it through the hub. Go's transport hides the
        # Content-Encoding of an answer it inflated for the caller; the Vary header it keeps is
        # the server's mark of a compressed answer.
        r = self.s.kubectl("get", "cm", "big-gzip", "-o", "json", "-v=8")
        self.assertEqual(json.loads(r.stdout)["data"], data)
        self.assertRegex(r.stderr, r"Vary:? +Accept-Encoding")
        self.s.kubectl("delete", "cm", "big-gzip")

    def test_zz_agent_killed_mid_watch_then_restarted(self):
        proc = subprocess.Popen([e2e.KUBECTL, "--kubeconfig", self.s.kubeconfig, "get", "pods", "-A", "-w"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "HOME": self.s.work.path})
        lines = []
        reader = threading.Thread(target=lambda: [lines.append(l) for l in proc.stdout], daemon=True)
        reader.start()
        e2e.wait_until(lambda: len(lines) >= 2, what="watch output")
        log_mark = len(self.s.hub.proc.log_text())
        self.s.agent.proc.kill()
        try:
            proc.wait(timeout=20)  # the watch must end, not hang
        except subprocess.TimeoutExpired:
            proc.kill()
            self.fail("kubectl get -w did not end after the agent died")
        r = self.s.kubectl("get", "ns", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.s.agent.start()
        self.s.hub.wait_discovered("edge-1", start=log_mark)
        self.assertIn("default", self.s.kubectl("get", "ns").stdout)


if __name__ == "__main__":
    unittest.main()
