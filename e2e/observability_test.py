"""Observability end to end: a real Prometheus (Debian's) scrapes the hub, the agent and the
metaserver; the series exist and move when kubectl works through the hub; the Grafana dashboard
parses and uses only metrics that the components really export."""
import json
import os
import re
import subprocess
import sys
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EDGE_TOKEN = "obs-edge-token-0123456789"


def scrape(address):
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as r:
        return r.read().decode()


def metric_names(text):
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            names.add(parts[2])
            if parts[3] == "histogram":
                names.update({parts[2] + "_bucket", parts[2] + "_sum", parts[2] + "_count"})
    return names


class ObservabilityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # The users' port is chosen before the metaserver starts (it writes it into
        # kubeconfigs), so another test may take it meanwhile: start again on another one.
        for attempt in range(3):
            cls.work = e2e.Workdir()
            cls.procs = []
            cls.platform = None
            try:
                cls._start()
                return
            except RuntimeError as e:
                cls.tearDownClass()
                if "Address already in use" not in str(e) or attempt == 2:
                    raise
            except BaseException:
                cls.tearDownClass()
                raise

    @classmethod
    def _start(cls):
        w = cls.work
        cls.pki = e2e.Pki(w.join("pki"))
        port = e2e.free_port()
        cls.platform = p = e2e.Platform(w, cls.pki, hub_url=f"https://127.0.0.1:{port}")
        p.ctl("tenant", "create", "obs")
        p.ctl("user", "create", "olga", "--tenant", "obs")
        p.ctl("cluster", "create", "edge-1")
        p.ctl("grant", "create", "obs-all", "--tenant", "obs", "--clusters", "*", "--api-groups", "*",
              "--resources", "*", "--verbs", "*")
        standin, url = e2e.start_standin(w, cls.pki, EDGE_TOKEN)
        cls.procs.append(standin)
        crt, key = cls.pki.serving("hub-1")
        cls.hub = e2e.Process([e2e.binary("kubehub-hub"), "--listen", f"127.0.0.1:{port}", "--tunnel-listen",
                               "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--tls-cert", crt, "--tls-key", key,
                               "--agent-ca", p.ca_file(), "--metaserver-url", p.url, "--metaserver-token-file",
                               p.hub_token_file(), "--metaserver-ca", cls.pki.ca_cert, "--hub-id", "hub-1",
                               "--audit-log", ""], ready=r"hub started", log_path=w.join("hub.log"))
        cls.procs.append(cls.hub)
        text = cls.hub.log_text()
        tunnel = re.search(r"tunnel listening\" address=(\S+)", text).group(1)
        cls.hub_admin = re.search(r"admin listening\" address=(\S+)", text).group(1)
        cls.hub_users = f"https://127.0.0.1:{port}/clusters/edge-1"
        agent_crt, agent_key = p.agent_certificate("edge-1")
        kc = e2e.write_kubeconfig(w.join("agent.kubeconfig"), url, cls.pki.ca_cert, token=EDGE_TOKEN)
        cls.agent = e2e.Process([e2e.binary("kubehub-agent"), "--hub-url", f"wss://{tunnel}/tunnel", "--tls-cert",
                                 agent_crt, "--tls-key", agent_key, "--hub-ca", cls.pki.ca_cert, "--kubeconfig", kc,
                                 "--admin-listen", "127.0.0.1:0"], ready=r"tunnel up", log_path=w.join("agent.log"),
                                timeout=40)
        cls.procs.append(cls.agent)
        cls.agent_admin = re.search(r"admin listening\" address=(\S+)", cls.agent.log_text()).group(1)
        cls.hub.wait_for_log(r"cache synced\" cluster=edge-1 resource=pods", 30)
        cls.kubeconfig = w.join("olga.kubeconfig")
        with open(cls.kubeconfig, "w") as f:
            f.write(p.ctl("kubeconfig", "--user", "olga", "--cluster", "edge-1").stdout)
        cls.targets = {"hub": cls.hub_admin, "agent": cls.agent_admin, "metaserver": p.meta.admin}
        prom_port = e2e.free_port()
        cls.prom_url = f"http://127.0.0.1:{prom_port}"
        config = w.join("prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n")
            for job, addr in cls.targets.items():
                f.write(f"  - job_name: {job}\n    static_configs:\n      - targets: ['{addr}']\n")
        prom = e2e.Process(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={w.join('tsdb')}",
                            f"--web.listen-address=127.0.0.1:{prom_port}"],
                           ready=r"Server is ready to receive web requests", log_path=w.join("prometheus.log"))
        cls.procs.append(prom)

    @classmethod
    def tearDownClass(cls):
        for proc in reversed(cls.procs):
            proc.kill()
        if cls.platform:
            cls.platform.close()
        cls.work.close()

    def query(self, expr):
        url = f"{self.prom_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as r:
            data = json.loads(r.read())
        self.assertEqual(data["status"], "success", data)
        return data["data"]["result"]

    def value(self, expr):
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def test_prometheus_scrapes_every_component_and_series_move(self):
        e2e.wait_until(lambda: sorted(r["metric"]["job"] for r in self.query("up == 1")) ==
                       ["agent", "hub", "metaserver"], timeout=40, interval=0.5, what="all three targets up")
        for _ in range(3):
            e2e.kubectl(self.kubeconfig, "get", "pods", "-n", "default")
        e2e.wait_until(lambda: (self.value('sum(kubehub_hub_requests_total{cluster="edge-1",tenant="obs"})') or 0) > 0,
                       timeout=20, interval=0.5, what="hub request counter scraped")
        before = self.value('sum(kubehub_hub_requests_total{cluster="edge-1",tenant="obs"})')
        for _ in range(5):
            e2e.kubectl(self.kubeconfig, "get", "configmaps", "-n", "default")
        e2e.wait_until(lambda: self.value('sum(kubehub_hub_requests_total{cluster="edge-1",tenant="obs"})') >= before + 5,
                       timeout=20, interval=0.5, what="hub request counter moved")
        self.assertEqual(self.value('kubehub_hub_cluster_connected{cluster="edge-1"}'), 1)
        self.assertGreater(self.value('sum(kubehub_hub_cache_objects{cluster="edge-1"})'), 0)
        self.assertGreater(self.value('sum(kubehub_hub_tunnel_bytes_total{cluster="edge-1"})'), 0)
        self.assertEqual(self.value("kubehub_agent_tunnel_up"), 1)
        # The agent's tunnel byte counters move while the tunnel is up (not only when it ends).
        e2e.wait_until(lambda: (self.value('kubehub_agent_tunnel_bytes_total{direction="out"}') or 0) > 0,
                       timeout=20, interval=0.5, what="agent tunnel bytes scraped while the tunnel is up")
        self.assertGreater(self.value("sum(kubehub_metaserver_requests_total)"), 0)
        self.assertEqual(self.value("kubehub_hub_metaserver_reachable"), 1)

    def test_dashboard_uses_only_exported_metrics(self):
        with open(os.path.join(ROOT, "deploy", "dashboards", "kubehub.json")) as f:
            dashboard = json.load(f)
        # A refused request, so that the refusal series exist.
        self.platform.ctl("tenant", "create", "other", check=False)
        self.platform.ctl("user", "create", "nina", "--tenant", "other", check=False)
        nina = e2e.write_kubeconfig(self.work.join("nina.kubeconfig"), self.hub_users, self.pki.ca_cert,
                                    token=self.platform.token("nina"))
        e2e.wait_until(lambda: e2e.kubectl(nina, "get", "pods", "-n", "default", check=False).returncode != 0,
                       what="nina refused")
        exported = set()
        for addr in self.targets.values():
            exported |= metric_names(scrape(addr))
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
        used = set()
        for e in exprs:
            used |= {m for m in re.findall(r"\b(kubehub_[a-z0-9_]+)", e)}
        self.assertTrue(used)
        missing = sorted(used - exported)
        self.assertEqual(missing, [], "dashboard expressions name metrics no component exports")
        # And every expression is valid PromQL for the real Prometheus.
        for e in exprs:
            if "label_values" in e:
                continue
            self.query(e.replace("$cluster", ".*").replace("$tenant", ".*"))


if __name__ == "__main__":
    unittest.main()
