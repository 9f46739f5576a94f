"""End to end: agent enrolment and certificate rotation (issue "Enrolment and rotation").

The real metaserver (PostgreSQL), a hub, the edge API server stand-in and kubectl:
- an agent given only a one-time bootstrap token (made by `kubehubctl cluster install`) makes
  its key, enrols, keeps the credentials in a directory (key 0600, never sent) and serves
  kubectl through the hub; a restart reuses them with the spent token; a fresh directory with the
  spent token stops with an error that says what to do;
- with --credentials-secret the credentials go into a kubernetes.io/tls Secret of the edge API
  server and a restart without any token reads them back;
- with a 30 s certificate lifetime the agent renews while kubectl reads through the hub: no
  failed request, the same tunnel, a new serial stored, and a tunnel made after the first
  certificate expired presents a renewed one;
- an agent with --tls-cert/--tls-key picks up rewritten files for its next tunnel;
- the metaserver serves a rewritten certificate to new connections without a restart.
"""
import base64
import http.client
import os
import re
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
# Every request goes through the tunnel (a cache could answer while a tunnel is down).
HUB_FLAGS = ["--cache-resources", "none"]


def openssl(*args, input=None):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True,
                          input=input).stdout


def cert_serial(pem):
    """The serial as the metaserver reports it: lowercase hex of whole bytes."""
    out = openssl("x509", "-noout", "-serial", input=pem)
    return out.strip().split("=", 1)[1].lower()


def cert_subject(pem):
    return openssl("x509", "-noout", "-subject", "-nameopt", "RFC2253", input=pem).strip()


def cert_not_after(pem):
    out = openssl("x509", "-noout", "-enddate", input=pem).strip().split("=", 1)[1]
    return ssl.cert_time_to_seconds(out)


def key_matches(cert_pem, key_pem):
    return (openssl("x509", "-noout", "-pubkey", input=cert_pem)
            == openssl("pkey", "-pubout", input=key_pem))


def read(path):
    with open(path) as f:
        return f.read()


def admin_metrics(address):
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/metrics")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def metric(text, name, **labels):
    """The value of one series in Prometheus text, 0 when absent."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    series = f"{name}{{{want}}}" if want else name
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def get_namespaces(kubeconfig):
    r = e2e.kubectl(kubeconfig, "get", "ns", check=False)
    return r.returncode == 0 and "default" in r.stdout, r


class KubectlLoop:
    """kubectl get ns through the hub, over and over on a thread, counting what failed."""

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


class Stack:
    """PostgreSQL + metaserver, the stand-in, one hub trusting the metaserver's CA for agents;
    agents started by the tests."""

    def __init__(self, meta_extra=(), hub_port=None):
        self.work = e2e.Workdir()
        self.procs = []
        self.failed = False
        self.platform = None
        try:
            self.pki = e2e.Pki(self.work.join("pki"))
            self.platform = e2e.Platform(self.work, self.pki, extra=list(meta_extra))
            self.agent_ca = self.platform.ca_file()
            self.standin, self.standin_url = e2e.start_standin(self.work, self.pki, EDGE_TOKEN)
            self.procs.append(self.standin)
            self.tokens = e2e.write_token_file(self.work.join("tokens.csv"),
                                               [(USER_TOKEN, "alice", "u-1", ["devs"])])
            self.agent_kubeconfig = e2e.write_kubeconfig(self.work.join("agent-kubeconfig.json"),
                                                         self.standin_url, self.pki.ca_cert,
                                                         token=EDGE_TOKEN)
            self.hub_port = hub_port
            self.hub = self.start_hub("hub")
        except BaseException:
            self.close()
            raise

    def start_hub(self, log_name):
        extra = [*HUB_FLAGS, "--agent-ca", self.agent_ca]
        if self.hub_port:
            extra += ["--tunnel-listen", f"127.0.0.1:{self.hub_port}"]
        hub = e2e.Hub(self.work, self.pki, self.tokens, name="hub", extra=extra, log_name=log_name)
        self.procs.append(hub.proc)
        return hub

    def tunnel_url(self):
        return f"wss://{self.hub.tunnel}/tunnel"

    def kubeconfig(self, cluster):
        return e2e.write_kubeconfig(self.work.join(f"{cluster}.kubeconfig"), self.hub.cluster_url(cluster),
                                    self.pki.ca_cert, token=USER_TOKEN)

    def install(self, cluster):
        """`kubehubctl cluster install`: its helm line, and the bootstrap token in it."""
        out = self.platform.ctl("cluster", "install", cluster, "--hub-url", self.tunnel_url(),
                                "--namespace", "kubehub-system").stdout
        token = re.search(r"--set enrollment\.bootstrapToken=(khb_\S+)", out).group(1)
        return out, token

    def agent(self, cluster, name, token=None, store=(), extra=(), ready=r'msg="tunnel up"', timeout=40):
        """An enrolling agent; `store` is ("--credentials-dir", DIR) or ("--credentials-secret", NAME)."""
        args = [e2e.binary("kubehub-agent"), "--hub-url", self.tunnel_url(), "--cluster", cluster,
                "--metaserver-url", self.platform.url, "--metaserver-ca", self.pki.ca_cert,
                "--hub-ca", self.pki.ca_cert, "--kubeconfig", self.agent_kubeconfig,
                "--admin-listen", "127.0.0.1:0", "--backoff-base", "100ms", "--backoff-max", "1s",
                *store, *extra]
        if token:
            path = self.work.join(f"{name}.token")
            with open(path, "w") as f:
                f.write(token + "\n")
            args += ["--bootstrap-token-file", path]
        proc = e2e.Process(args, ready=ready, log_path=self.work.join(f"{name}.log"), timeout=timeout)
        self.procs.append(proc)
        return proc

    def close(self):
        for p in reversed(self.procs):
            p.kill()
        if self.platform:
            self.platform.close()
        if self.failed or os.environ.get("KUBEHUB_E2E_SHOW_LOGS") == "1":
            e2e.print_logs(self.work, sorted(f for f in os.listdir(self.work.path) if f.endswith(".log")))
        self.work.close()


def agent_admin(proc):
    return re.search(r'admin listening" address=(\S+)', proc.log_text()).group(1)


class StackTest(unittest.TestCase):
    s = None

    @classmethod
    def tearDownClass(cls):
        if cls.s:
            cls.s.close()

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            self.s.failed = True


class EnrolmentTest(StackTest):
    """Enrolment with a bootstrap token into a directory and into a Secret. The tests run in the
    order of their names."""

    @classmethod
    def setUpClass(cls):
        cls.s = Stack(meta_extra=["--tls-reload-interval", "200ms"])
        try:
            for cluster in ("edge-1", "edge-2"):
                cls.s.platform.ctl("cluster", "create", cluster)
            cls.creds = cls.s.work.join("creds-edge-1")
        except BaseException:
            cls.s.failed = True
            cls.s.close()
            raise

    def test_a1_enrols_with_a_bootstrap_token_and_serves(self):
        out, token = self.s.install("edge-1")
        # The exact helm line for the edge, with the chart's enrolment values.
        self.assertIn("helm install kubehub-agent deploy/helm/kubehub-agent", out)
        self.assertIn("--namespace kubehub-system", out)
        self.assertIn("--set cluster=edge-1", out)
        self.assertIn(f"--set hubUrl={self.s.tunnel_url()}", out)
        self.assertIn(f"--set enrollment.metaserverUrl={self.s.platform.url}", out)
        self.assertIn(f"--set-file enrollment.metaserverCA={self.s.pki.ca_cert}", out)

        started = time.monotonic()
        agent = self.s.agent("edge-1", "agent-edge-1", token=token, store=("--credentials-dir", self.creds))
        up_after = time.monotonic() - started
        log = agent.log_text()
        took = int(re.search(r"msg=enrolled cluster=edge-1 serial=\S+ not_after=\d+ .*took_ms=(\d+)", log).group(1))
        print(f"\nenrolment: {took} ms (CSR to stored certificate); agent start to tunnel up "
              f"{up_after:.2f} s", file=sys.stderr)

        ok, r = get_namespaces(self.s.kubeconfig("edge-1"))
        self.assertTrue(ok, r.stderr[-500:])

        # The key was made here: private, the certificate's, and never sent anywhere.
        cert = read(os.path.join(self.creds, "tls.crt"))
        key = read(os.path.join(self.creds, "tls.key"))
        self.assertEqual(os.stat(os.path.join(self.creds, "tls.key")).st_mode & 0o777, 0o600)
        self.assertTrue(key_matches(cert, key))
        self.assertIn("CN=edge-1", cert_subject(cert))
        self.assertIn("O=kubehub:agents", cert_subject(cert))
        self.assertEqual(read(os.path.join(self.creds, "ca.crt")), read(self.s.agent_ca))
        serial = cert_serial(cert)
        self.assertIn(f"cert_serial={serial}", log)  # the tunnel presented it
        recorded = self.s.platform.pg.psql(
            "SELECT serial || ' ' || kind || ' ' || subject FROM certificates WHERE subject = 'edge-1'")
        self.assertEqual(recorded, f"{serial} agent edge-1")
        key_body = "".join(key.strip().splitlines()[1:-1])
        self.assertNotIn(key_body[:40], self.s.platform.meta.proc.log_text())
        self.__class__.serial = serial
        self.__class__.token = token

    def test_a2_a_restart_reuses_the_stored_credentials(self):
        agent = self.s.procs.pop()
        agent.stop()
        again = self.s.agent("edge-1", "agent-edge-1-again", token=self.token,
                             store=("--credentials-dir", self.creds))
        log = again.log_text()
        self.assertRegex(log, rf"msg=\"using the stored credentials\" .*serial={self.serial}")
        self.assertNotIn("enrolling", log)
        self.assertIn(f"cert_serial={self.serial}", log)
        ok, r = get_namespaces(self.s.kubeconfig("edge-1"))
        self.assertTrue(ok, r.stderr[-500:])

    def test_a3_a_spent_token_without_credentials_fails_clearly(self):
        fresh = self.s.work.join("creds-fresh")
        proc = self.s.agent("edge-1", "agent-edge-1-fresh", token=self.token,
                            store=("--credentials-dir", fresh), ready=None)
        code = proc.proc.wait(timeout=30)
        text = proc.log_text()
        self.assertNotEqual(code, 0, text[-2000:])
        self.assertIn("the metaserver refused the bootstrap token", text)
        self.assertIn("already used", text)
        self.assertIn("kubehubctl cluster install edge-1", text)
        self.assertFalse(os.path.exists(os.path.join(fresh, "tls.key")))
        # And without any token nothing is tried at all.
        none = self.s.agent("edge-1", "agent-edge-1-none", store=("--credentials-dir", fresh), ready=None)
        self.assertNotEqual(none.proc.wait(timeout=30), 0)
        self.assertIn("no bootstrap token to enrol with", none.log_text())

    def test_c_credentials_in_a_secret_survive_a_restart(self):
        api = self.s.standin_url
        status, _ = e2e.https_json(api + "/api/v1/namespaces", EDGE_TOKEN, self.s.pki.ca_cert, method="POST",
                                   body={"metadata": {"name": "kubehub-system"}})
        self.assertIn(status, (201, 409))
        # As the chart creates it: empty, of type kubernetes.io/tls.
        secret_url = api + "/api/v1/namespaces/kubehub-system/secrets"
        status, body = e2e.https_json(secret_url, EDGE_TOKEN, self.s.pki.ca_cert, method="POST", body={
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "agent-credentials"},
            "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": "", "ca.crt": ""}})
        self.assertEqual(status, 201, body)
        _, token = self.s.install("edge-2")
        store = ("--credentials-secret", "agent-credentials", "--namespace", "kubehub-system")
        agent = self.s.agent("edge-2", "agent-edge-2", token=token, store=store)
        self.assertIn("msg=enrolled cluster=edge-2", agent.log_text())
        ok, r = get_namespaces(self.s.kubeconfig("edge-2"))
        self.assertTrue(ok, r.stderr[-500:])

        status, secret = e2e.https_json(secret_url + "/agent-credentials", EDGE_TOKEN, self.s.pki.ca_cert)
        self.assertEqual(status, 200, secret)
        self.assertEqual(secret["type"], "kubernetes.io/tls")
        data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        self.assertIn("CN=edge-2", cert_subject(data["tls.crt"]))
        self.assertTrue(key_matches(data["tls.crt"], data["tls.key"]))
        serial = cert_serial(data["tls.crt"])
        self.assertIn(f"cert_serial={serial}", agent.log_text())

        # No token at all this time: the Secret is all it has.
        self.s.procs.remove(agent)
        agent.stop()
        again = self.s.agent("edge-2", "agent-edge-2-again", store=store)
        self.assertRegex(again.log_text(),
                         rf"msg=\"using the stored credentials\" store=\"Secret kubehub-system/agent-credentials\" "
                         rf"cluster=edge-2 serial={serial}")
        ok, r = get_namespaces(self.s.kubeconfig("edge-2"))
        self.assertTrue(ok, r.stderr[-500:])

    def test_z_metaserver_serves_a_rewritten_certificate_without_a_restart(self):
        other = e2e.Pki(self.s.work.join("pki-2"), name="second-ca")
        crt, key = other.serving("metaserver-next")
        meta_crt = os.path.join(self.s.pki.dir, "metaserver.crt")
        meta_key = os.path.join(self.s.pki.dir, "metaserver.key")
        host, port = self.s.platform.meta.api.rsplit(":", 1)

        def served_by(ca_file):
            ctx = ssl.create_default_context(cafile=ca_file)
            conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=5)
            try:
                conn.request("GET", "/api/v1/ca.crt")
                return conn.getresponse().status == 200
            except (ssl.SSLError, OSError):
                return False
            finally:
                conn.close()

        self.assertTrue(served_by(self.s.pki.ca_cert))
        # The key first, as a Secret update may land: the old pair stays in force until both match.
        os.replace(key, meta_key + ".new")
        os.rename(meta_key + ".new", meta_key)
        os.replace(crt, meta_crt)
        e2e.wait_until(lambda: served_by(other.ca_cert), timeout=15, what="the new certificate served")
        self.assertFalse(served_by(self.s.pki.ca_cert))
        text = admin_metrics(self.s.platform.meta.admin)
        self.assertGreaterEqual(metric(text, "kubehub_metaserver_tls_reloads_total", result="ok"), 1)


class RenewalTest(StackTest):
    """Certificates valid for 30 s: renewal two thirds in (about 20 s after issue)."""

    @classmethod
    def setUpClass(cls):
        cls.s = Stack(meta_extra=["--agent-cert-ttl", "30s"], hub_port=e2e.free_port())
        try:
            cls.s.platform.ctl("cluster", "create", "edge-r")
            cls.creds = cls.s.work.join("creds-edge-r")
        except BaseException:
            cls.s.failed = True
            cls.s.close()
            raise

    def test_renews_without_dropping_the_tunnel_and_new_tunnels_present_the_new_certificate(self):
        _, token = self.s.install("edge-r")
        agent = self.s.agent("edge-r", "agent-edge-r", token=token,
                             store=("--credentials-dir", self.creds), extra=["--hub-connections", "1"])
        enrolled_at = time.time()
        first = read(os.path.join(self.creds, "tls.crt"))
        first_serial = cert_serial(first)
        admin = agent_admin(agent)
        loop = KubectlLoop(self.s.kubeconfig("edge-r"))
        try:
            loop.wait_for(3)
            m = agent.wait_for_log(r'msg="certificate renewed; new tunnels present it, open ones stay up" '
                                   r'serial=(\S+) previous_serial=(\S+) .*took_ms=(\d+)', timeout=60)
            renewed_after = time.time() - enrolled_at
            self.assertEqual(m.group(2), first_serial)
            loop.wait_for(loop.ok + 5)
        finally:
            loop.stop()
        print(f"\nrenewal: {m.group(3)} ms (CSR to certificate in force), {renewed_after:.1f} s after "
              f"enrolment of a 30 s certificate; {loop.ok} kubectl reads meanwhile", file=sys.stderr)
        self.assertEqual(loop.failures, [], "requests failed while the agent renewed")
        text = admin_metrics(admin)
        # The tunnel that was up before the renewal is the one still up.
        self.assertEqual(metric(text, "kubehub_agent_tunnel_connects_total"), 1)
        self.assertEqual(metric(text, "kubehub_agent_tunnels_up"), 1)
        self.assertGreaterEqual(metric(text, "kubehub_agent_certificate_renewals_total", result="ok"), 1)
        stored = read(os.path.join(self.creds, "tls.crt"))
        self.assertNotEqual(cert_serial(stored), first_serial)
        self.assertTrue(key_matches(stored, read(os.path.join(self.creds, "tls.key"))))
        meta = admin_metrics(self.s.platform.meta.admin)
        self.assertGreaterEqual(
            metric(meta, "kubehub_metaserver_certificates_issued_total", kind="agent-renewal"), 1)
        audit = self.s.platform.ctl_json("audit", "list")
        self.assertTrue(any(a.get("actor") == "agent:edge-r" and "previous_serial=" + first_serial in a.get("detail", "")
                            for a in audit.get("items", [])), audit)

        # Once the first certificate has expired only a renewed one can make a tunnel: restart
        # the hub (same address) and see which serial the new tunnel presents.
        wait = cert_not_after(first) + 1 - time.time()
        if wait > 0:
            time.sleep(wait)
        mark = len(agent.log_text())
        self.s.hub.proc.kill()
        self.s.hub = self.s.start_hub("hub-restarted")
        m = agent.wait_for_log(r'msg="tunnel up" .* cert_serial=(\S+)', timeout=40, start=mark)
        serial = m.group(1)
        self.assertNotEqual(serial, first_serial)
        issued = self.s.platform.pg.psql("SELECT serial FROM certificates WHERE subject = 'edge-r'").split()
        self.assertIn(serial, issued)
        e2e.wait_until(lambda: get_namespaces(self.s.kubeconfig("edge-r"))[0], timeout=30,
                       what="kubectl through the restarted hub")


class StaticFilesReloadTest(unittest.TestCase):
    """--tls-cert/--tls-key issued elsewhere: rewritten files are used for the next tunnel."""

    def test_rewritten_files_are_used_by_the_next_tunnel(self):
        work = e2e.Workdir()
        procs = []
        failed = True
        try:
            pki = e2e.Pki(work.join("pki"))
            standin, standin_url = e2e.start_standin(work, pki, EDGE_TOKEN)
            procs.append(standin)
            tokens = e2e.write_token_file(work.join("tokens.csv"), [(USER_TOKEN, "alice", "u-1", ["devs"])])
            port = e2e.free_port()
            hub_extra = [*HUB_FLAGS, "--tunnel-listen", f"127.0.0.1:{port}"]
            hub = e2e.Hub(work, pki, tokens, name="hub", extra=hub_extra)
            procs.append(hub.proc)
            kubeconfig = e2e.write_kubeconfig(work.join("agent.kubeconfig"), standin_url, pki.ca_cert,
                                              token=EDGE_TOKEN)
            crt, key = pki.agent("agent-edge-s", "edge-s")
            live_crt, live_key = work.join("live.crt"), work.join("live.key")
            for src, dst in ((crt, live_crt), (key, live_key)):
                with open(dst, "w") as f:
                    f.write(read(src))
            agent = e2e.Agent(work, pki, "edge-s", hub, kubeconfig, certificate=(live_crt, live_key),
                              extra=["--hub-connections", "1", "--tls-reload-interval", "200ms"])
            procs.append(agent.proc)
            first = cert_serial(read(live_crt))
            self.assertIn(f"cert_serial={first}", agent.proc.log_text())

            next_crt, next_key = pki.agent("agent-edge-s-next", "edge-s")
            mark = len(agent.proc.log_text())
            with open(live_key + ".tmp", "w") as f:
                f.write(read(next_key))
            os.replace(live_key + ".tmp", live_key)
            with open(live_crt + ".tmp", "w") as f:
                f.write(read(next_crt))
            os.replace(live_crt + ".tmp", live_crt)
            agent.proc.wait_for_log(r"TLS certificate reloaded", timeout=15, start=mark)
            self.assertEqual(agent.metric("kubehub_agent_tunnel_connects_total"), 1)  # nothing dropped

            hub.proc.kill()
            hub = e2e.Hub(work, pki, tokens, name="hub", extra=hub_extra, log_name="hub-restarted")
            procs.append(hub.proc)
            m = agent.proc.wait_for_log(r'msg="tunnel up" .* cert_serial=(\S+)', timeout=40, start=mark)
            self.assertEqual(m.group(1), cert_serial(read(next_crt)))
            self.assertNotEqual(m.group(1), first)
            kc = e2e.write_kubeconfig(work.join("user.kubeconfig"), hub.cluster_url("edge-s"), pki.ca_cert,
                                      token=USER_TOKEN)
            e2e.wait_until(lambda: get_namespaces(kc)[0], timeout=30, what="kubectl through the new tunnel")
            failed = False
        finally:
            for p in reversed(procs):
                p.kill()
            if failed or os.environ.get("KUBEHUB_E2E_SHOW_LOGS") == "1":
                e2e.print_logs(work, sorted(f for f in os.listdir(work.path) if f.endswith(".log")))
            work.close()


if __name__ == "__main__":
    unittest.main()
