"""Attacks on the metaserver's credentials and error messages, replayed with the real pieces:
PostgreSQL + metaserver (HTTPS) + kubehubctl + a hub trusting the metaserver's CA for agents +
real agents. No edge API server is needed: a hub accepts or refuses a tunnel before the agent
ever talks to its API server.

- A hub's token asks for another hub's, or a cluster's, certificate: 403.
- A hub's token heartbeats or deletes another hub, or reports (or withdraws) a cluster's tunnel
  as another hub: 403, and the registry still says what the other hub said; its own reports,
  and the real hub's, still go through; an admin still acts for any hub.
- A hub whose token's user is not its --hub-id refuses to start, saying how to fix it.
- A certificate issued for a hub, named like a cluster, dials the hub as that cluster: the hub
  refuses it and the cluster's real tunnel stays up.
- PostgreSQL is down: 503s (also on the public revocation feed and /readyz) say what failed,
  never the database's socket path or address; the metaserver's log has the full error and no
  password."""
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402


def make_csr(work, name, subject):
    """A fresh P-256 key and a CSR for it; returns (csr PEM text, key path)."""
    key = work.join(f"{name}.key")
    csr = work.join(f"{name}.csr")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", csr, "-subj", subject], check=True, capture_output=True)
    with open(csr) as f:
        return f.read(), key


def certificate_text(path):
    return subprocess.run(["openssl", "x509", "-in", path, "-noout", "-text"], check=True, capture_output=True,
                          text=True).stdout


class HubCertificateTest(unittest.TestCase):
    """One metaserver, hub hub-1 (its own user and token) and the real agent of cluster edge-3."""

    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workdir(prefix="kubehub-sec-e2e-")
        cls.procs = []
        cls.platform = None
        try:
            cls._start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _start(cls):
        w = cls.work
        cls.pki = e2e.Pki(w.join("pki"))
        cls.platform = p = e2e.Platform(w, cls.pki)
        p.ctl("cluster", "create", "edge-3")
        hub_token_file = p.hub_token_file("hub-1")
        with open(hub_token_file) as f:
            cls.hub_token = f.read().strip()
        crt, key = cls.pki.serving("hub-1")
        cls.hub = e2e.Process([e2e.binary("kubehub-hub"), "--listen", "127.0.0.1:0", "--tunnel-listen", "127.0.0.1:0",
                               "--admin-listen", "127.0.0.1:0", "--tls-cert", crt, "--tls-key", key,
                               "--agent-ca", p.ca_file(), "--metaserver-url", p.url, "--metaserver-token-file",
                               hub_token_file, "--metaserver-ca", cls.pki.ca_cert, "--hub-id", "hub-1",
                               "--audit-log", ""], ready=r"hub started", log_path=w.join("hub.log"))
        cls.procs.append(cls.hub)
        cls.tunnel = re.search(r"tunnel listening\" address=(\S+)", cls.hub.log_text()).group(1)
        # Nothing listens here: the agents never get as far as their API server in these tests.
        cls.kubeconfig = e2e.write_kubeconfig(w.join("edge.kubeconfig"), f"https://127.0.0.1:{e2e.free_port()}",
                                              cls.pki.ca_cert, token="unused-edge-token")
        # The real agent, onboarded the ordinary way (bootstrap token -> CSR -> certificate).
        agent_crt, agent_key = p.agent_certificate("edge-3")
        text = certificate_text(agent_crt)
        assert "O = kubehub:agents, CN = edge-3" in text, text
        cls.agent = cls._agent("agent-edge-3", agent_crt, agent_key, ready=r"tunnel up")

    @classmethod
    def _agent(cls, name, crt, key, ready=None):
        proc = e2e.Process([e2e.binary("kubehub-agent"), "--hub-url", f"wss://{cls.tunnel}/tunnel",
                            "--tls-cert", crt, "--tls-key", key, "--hub-ca", cls.pki.ca_cert,
                            "--kubeconfig", cls.kubeconfig, "--admin-listen", "127.0.0.1:0",
                            "--backoff-base", "100ms", "--backoff-max", "1s"],
                           ready=ready, log_path=cls.work.join(f"{name}.log"), timeout=40)
        cls.procs.append(proc)
        return proc

    @classmethod
    def tearDownClass(cls):
        for proc in reversed(cls.procs):
            proc.kill()
        if cls.platform:
            cls.platform.close()
        if getattr(cls, "failed", False):
            for name in ("hub.log", "agent-edge-3.log", "impostor.log", "metaserver.log"):
                path = cls.work.join(name)
                if os.path.exists(path):
                    print(f"----- {name}", file=sys.stderr)
                    print(open(path, errors="replace").read()[-3000:], file=sys.stderr)
        cls.work.close()

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            type(self).failed = True

    def post_csr(self, path, csr, token):
        return self.platform.meta.json("POST", path, body={"csr": csr}, token=token)

    def test_hub_token_gets_only_its_own_certificate(self):
        csr, _ = make_csr(self.work, "hub-attempt", "/CN=edge-3")
        # The attack: a hub's token asks for a certificate named like a cluster...
        status, body = self.post_csr("/api/v1/hubs/edge-3/certificate", csr, self.hub_token)
        self.assertEqual(status, 403, body)
        self.assertEqual(body["error"]["code"], 403)
        self.assertIn('own hub "hub-1"', body["error"]["message"])
        self.assertIn('"edge-3"', body["error"]["message"])
        # ... or like another hub, or straight from the cluster's own route.
        other, _ = make_csr(self.work, "hub-2-attempt", "/CN=hub-2")
        status, body = self.post_csr("/api/v1/hubs/hub-2/certificate", other, self.hub_token)
        self.assertEqual(status, 403, body)
        status, body = self.post_csr("/api/v1/clusters/edge-3/certificate", csr, self.hub_token)
        self.assertEqual(status, 403, body)
        # Its own certificate still comes, marked as a hub's.
        own, _ = make_csr(self.work, "hub-1-own", "/CN=hub-1")
        status, body = self.platform.meta.json("POST", "/api/v1/hubs/hub-1/certificate",
                                               body={"csr": own, "dnsNames": ["localhost"]}, token=self.hub_token)
        self.assertEqual(status, 201, body)
        path = self.work.join("hub-1-own.crt")
        with open(path, "w") as f:
            f.write(body["certificate"])
        text = certificate_text(path)
        self.assertIn("O = kubehub:hubs, CN = hub-1", text)
        self.assertIn("TLS Web Server Authentication", text)
        # The refusals are audited with the hub as the actor.
        _, audit = self.platform.meta.json("GET", "/api/v1/audit?limit=1000", token=self.platform.admin_token,
                                           expect=200)
        refused = [a for a in audit["items"] if a["resource"] == "/api/v1/hubs/edge-3/certificate"
                   and a["actor"] == "user:hub-1"]
        self.assertTrue(refused and all(a["status"] == 403 for a in refused), refused)

    def meta(self, method, path, token, body=None, expect=None):
        return self.platform.meta.json(method, path, body=body, token=token, expect=expect)

    def endpoints(self, cluster):
        _, body = self.meta("GET", f"/api/v1/clusters/{cluster}/endpoints", self.platform.admin_token, expect=200)
        return sorted(e["hub"] for e in body["endpoints"])

    def assert_refused(self, method, path, body=None, other="hub-2"):
        status, answer = self.meta(method, path, self.hub_token, body=body)
        self.assertEqual(status, 403, f"{method} {path}: {answer}")
        self.assertEqual(answer["error"]["code"], 403)
        self.assertIn('own hub "hub-1"', answer["error"]["message"])
        self.assertIn(f'"{other}"', answer["error"]["message"])

    def test_hub_token_changes_only_its_own_registry_entries(self):
        p = self.platform
        admin = p.admin_token
        with open(p.hub_token_file("hub-2")) as f:
            hub2 = f.read().strip()
        p.ctl("cluster", "create", "edge-4")
        # hub-2 registers and reports the tunnel of edge-4 with its own token.
        self.meta("PUT", "/api/v1/hubs/hub-2", hub2, {"addresses": {"users": "https://hub-2:8443"}}, expect=200)
        self.meta("PUT", "/api/v1/clusters/edge-4/connection", hub2, {"hub": "hub-2"}, expect=200)
        # The real hub-1 (its user is hub-1) heartbeats and reports edge-3's tunnel.
        e2e.wait_until(lambda: self.endpoints("edge-3") == ["hub-1"], timeout=20, what="hub-1 holds edge-3")
        # The attack, with hub-1's token: re-register hub-2 elsewhere, deregister it, withdraw its
        # tunnel, claim a tunnel in its name (steering edge-3's users and agents to it).
        self.assert_refused("PUT", "/api/v1/hubs/hub-2", {"addresses": {"users": "https://evil:8443"}})
        self.assert_refused("DELETE", "/api/v1/hubs/hub-2")
        self.assert_refused("DELETE", "/api/v1/clusters/edge-4/connection?hub=hub-2")
        self.assert_refused("PUT", "/api/v1/clusters/edge-4/connection", {"hub": "hub-2"})
        self.assert_refused("PUT", "/api/v1/clusters/edge-3/connection", {"hub": "hub-2"})
        # Nothing changed.
        _, h = self.meta("GET", "/api/v1/hubs/hub-2", admin, expect=200)
        self.assertEqual(h["addresses"]["users"], "https://hub-2:8443")
        self.assertTrue(h["alive"])
        self.assertEqual(self.endpoints("edge-4"), ["hub-2"])
        self.assertEqual(self.endpoints("edge-3"), ["hub-1"])
        # hub-2 cannot touch hub-1 either.
        status, body = self.meta("DELETE", "/api/v1/clusters/edge-3/connection?hub=hub-1", hub2)
        self.assertEqual(status, 403, body)
        self.assertIn('own hub "hub-2" or its fleet\'s hubs "hub-2-*", not for "hub-1"', body["error"]["message"])
        # Its own reports still go through, and every hub still reads the registry.
        self.meta("PUT", "/api/v1/hubs/hub-1", self.hub_token, {}, expect=200)
        self.meta("PUT", "/api/v1/clusters/edge-4/connection", self.hub_token, {"hub": "hub-1"}, expect=200)
        self.assertEqual(self.endpoints("edge-4"), ["hub-1", "hub-2"])
        self.meta("DELETE", "/api/v1/clusters/edge-4/connection?hub=hub-1", self.hub_token, expect=204)
        _, ep = self.meta("GET", "/api/v1/clusters/edge-4/endpoints", self.hub_token, expect=200)
        self.assertEqual([e["hub"] for e in ep["endpoints"]], ["hub-2"])
        _, hubs = self.meta("GET", "/api/v1/hubs", self.hub_token, expect=200)
        self.assertEqual(sorted(x["id"] for x in hubs["items"]), ["hub-1", "hub-2"])
        # The refusals are audited with hub-1 as the actor.
        _, audit = self.meta("GET", "/api/v1/audit?limit=1000", admin, expect=200)
        refused = [a for a in audit["items"] if a["actor"] == "user:hub-1" and a["status"] == 403]
        self.assertTrue({"/api/v1/hubs/hub-2", "/api/v1/clusters/edge-4/connection"}
                        <= {a["resource"] for a in refused}, refused)
        # An admin still acts for any hub.
        self.meta("DELETE", "/api/v1/clusters/edge-4/connection?hub=hub-2", admin, expect=204)
        self.meta("DELETE", "/api/v1/hubs/hub-2", admin, expect=204)
        self.assertEqual(self.endpoints("edge-4"), [])
        # The real hub never had a report refused.
        self.assertNotIn("registry update refused", self.hub.log_text())
        self.assertNotIn("refuses this hub's registry reports", self.hub.log_text())

    def test_hub_refuses_to_start_as_another_hub(self):
        crt, key = self.pki.serving("hub-9")
        token_file = self.work.join("hub-1.token")
        r = subprocess.run([e2e.binary("kubehub-hub"), "--listen", "127.0.0.1:0", "--tunnel-listen", "127.0.0.1:0",
                            "--admin-listen", "127.0.0.1:0", "--tls-cert", crt, "--tls-key", key,
                            "--agent-ca", self.platform.ca_file(), "--metaserver-url", self.platform.url,
                            "--metaserver-token-file", token_file, "--metaserver-ca", self.pki.ca_cert,
                            "--hub-id", "hub-9", "--audit-log", ""], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn('the metaserver token belongs to user "hub-1" but --hub-id is "hub-9"', r.stderr)
        self.assertIn("--hub-id hub-1", r.stderr)
        self.assertNotIn("hub started", r.stdout + r.stderr)

    def test_hub_certificate_cannot_open_a_cluster_tunnel(self):
        # Whoever got it (an admin may issue any hub's), a hub certificate named like a cluster
        # must not replace the cluster's tunnel.
        csr, key = make_csr(self.work, "impostor", "/O=kubehub:agents/CN=edge-3")
        status, body = self.post_csr("/api/v1/hubs/edge-3/certificate", csr, self.platform.admin_token)
        self.assertEqual(status, 201, body)
        crt = self.work.join("impostor.crt")
        with open(crt, "w") as f:
            f.write(body["certificate"])
        self.assertIn("O = kubehub:hubs, CN = edge-3", certificate_text(crt))
        hub_mark = len(self.hub.log_text())
        agent_mark = len(self.agent.log_text())
        impostor = self._agent("impostor", crt, key)
        impostor.wait_for_log(r"the hub refused the agent: the client certificate \(CN \\?\"edge-3\\?\"\) is a hub's",
                              timeout=20)
        self.hub.wait_for_log(r"msg=\"agent refused\".*certificate_cn=edge-3.*hub's certificate", timeout=10,
                              start=hub_mark)
        impostor.kill()
        self.assertNotIn("tunnel up", impostor.log_text())
        self.assertNotIn("replacing the previous tunnel", self.hub.log_text()[hub_mark:])
        self.assertNotIn("tunnel down", self.agent.log_text()[agent_mark:])


class DatabaseDownTest(unittest.TestCase):
    """PostgreSQL stops under a running metaserver: what do clients and the log learn?"""

    SECRET = "e2e-db-secret-pw-7f3a"

    def test_503_names_no_database_location(self):
        work = e2e.Workdir(prefix="kubehub-sec-e2e-db-")
        pg = ms = None
        try:
            pki = e2e.Pki(work.join("pki"))
            pg = e2e.Postgres()
            admin = "admin-" + os.urandom(16).hex()
            # Local connections are trusted, so the password is never checked: it is there to
            # prove it never reaches the log.
            ms = e2e.Metaserver(work, pg.conninfo + f" password={self.SECRET}", pki=pki, admin_token=admin)
            ms.json("POST", "/api/v1/tenants", body={"name": "t1"}, token=admin, expect=201)
            ms.json("POST", "/api/v1/users", body={"name": "u1", "tenant": "t1"}, token=admin, expect=201)
            _, issued = ms.json("POST", "/api/v1/tokens", body={"user": "u1", "ttl": "1h"}, token=admin, expect=201)
            ms.json("GET", "/api/v1/revocations?since=0", expect=200)
            pg.stop("fast")
            where = [pg.base, ".s.PGSQL", "socket", "5432", "host=", "/tmp"]

            def check(status, headers, body, what):
                text = body.decode(errors="replace")
                self.assertEqual(status, 503, f"{what}: {text}")
                for leak in where:
                    self.assertNotIn(leak, text, f"{what} reveals {leak!r}: {text}")
                return text

            # The public revocation feed (no token), an admin call, and a user's token (whose
            # check itself needs the database).
            for path, token in (("/api/v1/revocations?since=0", None), ("/api/v1/tenants", admin),
                                ("/api/v1/whoami", issued["token"])):
                e2e.wait_until(lambda: ms.request("GET", path, token=token)[0] == 503, timeout=10,
                               what=f"503 from {path}")
                status, headers, body = ms.request("GET", path, token=token)
                text = check(status, headers, body, path)
                err = json.loads(text)["error"]
                self.assertEqual(err["code"], 503)
                self.assertIn("database unavailable", err["message"])
                self.assertIn("retry", err["message"])
                self.assertEqual(headers.get("retry-after"), "1")
            status, headers, body = ms.request("POST", "/api/v1/tenants", body={"name": "t2"}, token=admin)
            check(status, headers, body, "POST /api/v1/tenants")
            status, headers, body = ms.request("GET", "/readyz", server="admin")
            check(status, headers, body, "/readyz")
            # The operator still learns where: libpq's full text is in the log, the password is not.
            log = ms.proc.log_text()
            self.assertRegex(log, r"request failed: database unavailable.*" + re.escape(pg.base))
            self.assertNotIn(self.SECRET, log)
        finally:
            if ms:
                ms.stop()
            if pg:
                pg.close()
            work.close()


if __name__ == "__main__":
    unittest.main()
