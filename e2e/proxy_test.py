"""pods/proxy and services/proxy with kubectl 1.27, 1.30 and 1.33, directly against the edge API
server stand-in and through hub + tunnel + agent: `kubectl get --raw` and `kubectl create --raw`
reach the responder on the pod's declared port with method, path, query and body intact, and
the API server's 404 and 503 Status bodies come back the same both ways."""
import json
import os
import shutil
import subprocess
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402

USER_TOKEN = "user-token-proxy-0123456789"
EDGE_TOKEN = "edge-agent-token-proxy-0123456789"
VERSIONS = ("1.27", "1.30", "1.33")
SERVICE = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "web-proxy", "namespace": "default"},
    "spec": {"selector": {"app": "web"},
             "ports": [{"name": "http", "port": 8080, "targetPort": 80},
                       {"name": "dead", "port": 8081, "targetPort": 81}]},
}


def kubectl_binary(version):
    """kubectl VERSION installed next to the default kubectl, or None."""
    default = shutil.which(e2e.KUBECTL) or e2e.KUBECTL
    path = os.path.join(os.path.dirname(os.path.realpath(default)), f"kubectl.{version}")
    return path if os.access(path, os.X_OK) else None


class ProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workdir()
        cls.procs = []
        try:
            cls.pki = e2e.Pki(cls.work.join("pki"))
            cls.standin, cls.standin_url = e2e.start_standin(cls.work, cls.pki, EDGE_TOKEN)
            cls.procs.append(cls.standin)
            tokens = e2e.write_token_file(cls.work.join("tokens.csv"), [(USER_TOKEN, "alice", "u-1", ["devs"])])
            cls.hub = e2e.Hub(cls.work, cls.pki, tokens, extra=["--cache-resources", "none"])
            cls.procs.append(cls.hub.proc)
            agent_kc = e2e.write_kubeconfig(cls.work.join("agent.kubeconfig"), cls.standin_url,
                                            cls.pki.ca_cert, token=EDGE_TOKEN)
            cls.agent = e2e.Agent(cls.work, cls.pki, "edge-1", cls.hub, agent_kc)
            cls.procs.append(cls.agent.proc)
            cls.hub.wait_discovered("edge-1")
            cls.via_hub = e2e.write_kubeconfig(cls.work.join("hub.kubeconfig"), cls.hub.cluster_url("edge-1"),
                                               cls.pki.ca_cert, token=USER_TOKEN)
            cls.direct = e2e.write_kubeconfig(cls.work.join("direct.kubeconfig"), cls.standin_url,
                                              cls.pki.ca_cert, token=EDGE_TOKEN)
            svc = cls.work.join("service.json")
            with open(svc, "w") as f:
                json.dump(SERVICE, f)
            e2e.kubectl(cls.direct, "create", "-f", svc)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.procs):
            p.kill()
        if getattr(cls, "failed", False):
            e2e.print_logs(cls.work, ["standin.log", "hub.log", "agent-edge-1.log"])
        cls.work.close()

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            type(self).failed = True

    def raw(self, version, kubeconfig, *args):
        kubectl = kubectl_binary(version)
        if kubectl is None:
            self.skipTest(f"kubectl {version} is not installed")
        env = {**os.environ, "HOME": self.work.path}
        return subprocess.run([kubectl, "--kubeconfig", kubeconfig, *args],
                              capture_output=True, text=True, timeout=60, env=env)

    def both_ways(self, version, verb, raw_path, *args):
        """kubectl's answer directly and through the hub; they must be the same. `--raw` replaces
        the path of the server URL, so through the hub it carries the /clusters/CLUSTER prefix."""
        prefix = urllib.parse.urlparse(self.hub.cluster_url("edge-1")).path.rstrip("/")
        direct = self.raw(version, self.direct, verb, "--raw", raw_path, *args)
        via_hub = self.raw(version, self.via_hub, verb, "--raw", prefix + raw_path, *args)
        self.assertEqual((via_hub.returncode, via_hub.stdout, via_hub.stderr),
                         (direct.returncode, direct.stdout, direct.stderr),
                         "the hub passes the proxied answer on unchanged")
        return direct

    def test_pod_proxy_get(self):
        for version in VERSIONS:
            with self.subTest(kubectl=version):
                r = self.both_ways(version, "get",
                                   "/api/v1/namespaces/default/pods/web-1:80/proxy/some/path?x=1")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(json.loads(r.stdout),
                                 {"method": "GET", "path": "/some/path", "query": "x=1", "body": "",
                                  "pod": "default/web-1", "port": 80})

    def test_service_proxy_get(self):
        for version in VERSIONS:
            with self.subTest(kubectl=version):
                r = self.both_ways(version, "get",
                                   "/api/v1/namespaces/default/services/http:web-proxy:8080/proxy/some/path?x=1")
                self.assertEqual(r.returncode, 0, r.stderr)
                got = json.loads(r.stdout)
                self.assertEqual((got["method"], got["path"], got["query"], got["port"]),
                                 ("GET", "/some/path", "x=1", 80))
                self.assertIn(got["pod"], ("default/web-1", "default/web-2"))

    def test_post_through_create_raw(self):
        body = self.work.join("body.json")
        with open(body, "w") as f:
            f.write('{"hello": "proxy"}')
        for version in VERSIONS:
            with self.subTest(kubectl=version):
                r = self.both_ways(version, "create",
                                   "/api/v1/namespaces/default/pods/web-1:80/proxy/submit?y=2", "-f", body)
                self.assertEqual(r.returncode, 0, r.stderr)
                got = json.loads(r.stdout)
                self.assertEqual((got["method"], got["path"], got["query"]), ("POST", "/submit", "y=2"))
                self.assertEqual(json.loads(got["body"]), {"hello": "proxy"})

    def test_missing_pod_and_service_are_404_refused_port_503(self):
        for version in VERSIONS:
            with self.subTest(kubectl=version):
                r = self.both_ways(version, "get", "/api/v1/namespaces/default/pods/nope:80/proxy/")
                self.assertNotEqual(r.returncode, 0)
                self.assertIn("NotFound", r.stderr)
                r = self.both_ways(version, "get", "/api/v1/namespaces/default/services/nope/proxy/")
                self.assertNotEqual(r.returncode, 0)
                self.assertIn("NotFound", r.stderr)
                r = self.both_ways(version, "get", "/api/v1/namespaces/default/pods/web-1:81/proxy/")
                self.assertNotEqual(r.returncode, 0)
                self.assertIn("ServiceUnavailable", r.stderr)
                r = self.both_ways(version, "get",
                                   "/api/v1/namespaces/default/services/web-proxy:dead/proxy/x")
                self.assertNotEqual(r.returncode, 0)
                self.assertIn("ServiceUnavailable", r.stderr)


if __name__ == "__main__":
    unittest.main()
