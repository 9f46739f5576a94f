"""Security regression suite: replays the attacks on the hub that once worked (and some that were
always refused) with the real pieces: PostgreSQL + metaserver + hub + agent (certificate from
the metaserver's CA) + edge API server stand-in, driven by raw HTTPS, kubectl and sockets.

Tenant ta (alice, carol) may do anything on edge-1; tenant tb (bob) only in namespace b of
edge-1. The hub runs with short write/response/handshake timeouts (2 s), so that streams held
longer than that prove no stream is cut by them, and with small stream quotas so that the
fairness limits can be reached with a handful of watches.
"""
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

EDGE_TOKEN = "security-edge-token-0123456789"
SHORT = 2  # seconds: the hub's write, response and handshake timeouts
HOLD = 4 * SHORT  # how long streams are held open: longer than every timeout the hub has


class Stack:
    def __init__(self):
        self.work = e2e.Workdir()
        self.procs = []
        self.platform = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self):
        w = self.work
        self.pki = e2e.Pki(w.join("pki"))
        self.platform = p = e2e.Platform(w, self.pki)
        for t in ("ta", "tb"):
            p.ctl("tenant", "create", t)
        p.ctl("user", "create", "alice", "--tenant", "ta")
        p.ctl("user", "create", "carol", "--tenant", "ta")
        p.ctl("user", "create", "bob", "--tenant", "tb")
        p.ctl("cluster", "create", "edge-1")
        p.ctl("grant", "create", "ta-all", "--tenant", "ta", "--clusters", "edge-1", "--api-groups", "*",
              "--resources", "*", "--verbs", "*")
        p.ctl("grant", "create", "tb-b", "--tenant", "tb", "--clusters", "edge-1", "--api-groups", "*",
              "--resources", "*", "--verbs", "*", "--namespaces", "b")
        self.agent_ca = p.ca_file()
        self.hub = self.start_hub("hub-sec", [
            "--write-timeout", f"{SHORT}s", "--response-timeout", f"{SHORT}s",
            "--handshake-timeout", f"{SHORT}s", "--idle-timeout", "30s",
            "--max-long-streams-per-user", "3", "--max-long-streams-per-tenant", "4",
            # configmaps from the cache, pods forwarded: both kinds of watch are exercised.
            "--cache-resources", "configmaps"])
        self.standin, self.standin_url = e2e.start_standin(w, self.pki, EDGE_TOKEN)
        self.procs.append(self.standin)
        for ns in ("a", "b"):
            e2e.https_json(self.standin_url + "/api/v1/namespaces", EDGE_TOKEN, self.pki.ca_cert,
                           method="POST", body={"metadata": {"name": ns}})
        kc = e2e.write_kubeconfig(w.join("agent.kubeconfig"), self.standin_url, self.pki.ca_cert,
                                  token=EDGE_TOKEN)
        crt, key = p.agent_certificate("edge-1")
        self.agent = e2e.Process([e2e.binary("kubehub-agent"), "--hub-url", f"wss://{self.hub.tunnel}/tunnel",
                                  "--tls-cert", crt, "--tls-key", key, "--hub-ca", self.pki.ca_cert,
                                  "--kubeconfig", kc, "--admin-listen", "127.0.0.1:0",
                                  "--backoff-base", "100ms", "--backoff-max", "1s"],
                                 ready=r"tunnel up", log_path=w.join("agent-edge-1.log"), timeout=40)
        self.procs.append(self.agent)
        self.hub.wait_discovered("edge-1")
        self.tokens = {u: p.token(u) for u in ("alice", "carol", "bob")}
        self.kubeconfigs = {u: e2e.write_kubeconfig(w.join(f"{u}.kubeconfig"), self.hub.cluster_url("edge-1"),
                                                    self.pki.ca_cert, token=t)
                            for u, t in self.tokens.items()}

    def start_hub(self, name, extra, prefix=()):
        hub = e2e.start_metaserver_hub(self.work, self.pki, self.platform, name, self.agent_ca, extra, prefix)
        self.procs.append(hub.proc)
        return hub

    def close(self):
        for proc in reversed(self.procs):
            proc.kill()
        if self.platform:
            self.platform.close()
        if getattr(self, "failed", False) or os.environ.get("KUBEHUB_E2E_SHOW_LOGS") == "1":
            e2e.print_logs(self.work, ("hub-sec.log", "hub-fd.log", "agent-edge-1.log", "standin.log"), 4000)
        self.work.close()


def admin_get(hub, path):
    conn = http.client.HTTPConnection(*hub.admin.rsplit(":", 1), timeout=5)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    except OSError as e:
        return 0, str(e)
    finally:
        conn.close()


def metric(text, name, **labels):
    """The value of one series in Prometheus text, 0 when absent."""
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        m = re.match(rf"{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", line)
        if not m:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(2))
    return 0.0


class Conn:
    """One TLS connection to the hub's users' endpoint, for requests kept open or sent by hand."""

    def __init__(self, stack, hub=None, timeout=15):
        hub = hub or stack.hub
        host, port = hub.users.rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=stack.pki.ca_cert)
        self.sock = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=timeout),
                                    server_hostname=host)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_head(self, deadline=15):
        """Reads up to the end of a response head; returns (status, {lower-case name: value})."""
        end = time.monotonic() + deadline
        while b"\r\n\r\n" not in self.buf:
            if time.monotonic() > end:
                raise TimeoutError(f"no response head; got {self.buf[:200]!r}")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed before a response head; got {self.buf[:200]!r}")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        return status, headers

    def read_body(self, headers, deadline=15):
        """The body of a response with Content-Length, after read_head."""
        length = int(headers.get("content-length", "0"))
        end = time.monotonic() + deadline
        while len(self.buf) < length and time.monotonic() < end:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        body, self.buf = self.buf[:length], self.buf[length:]
        return body

    def read_until(self, needle, deadline):
        end = time.monotonic() + deadline
        self.sock.settimeout(0.5)
        while needle not in self.buf:
            if time.monotonic() > end:
                return False
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                continue
            if not chunk:
                return False
            self.buf += chunk
        return True

    def closed_within(self, seconds):
        """True when the server closes the connection within `seconds` (data read meanwhile is kept)."""
        end = time.monotonic() + seconds
        self.sock.settimeout(0.5)
        while time.monotonic() < end:
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                continue
            except (ConnectionResetError, ssl.SSLError):
                return True
            if not chunk:
                return True
            self.buf += chunk
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def request_bytes(method, path, token, headers=(), body=b""):
    lines = [f"{method} {path} HTTP/1.1", "Host: hub", f"Authorization: Bearer {token}", *headers]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class SecurityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Stack()

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            self.s.failed = True

    def raw(self, method, path, user="alice", headers=None, body=None, token=None):
        c = Conn(self.s)
        try:
            hdrs = [f"{k}: {v}" for k, v in (headers or {}).items()]
            c.send(request_bytes(method, path, token or self.s.tokens[user], hdrs, body or b""))
            status, h = c.read_head()
            return status, h, c.read_body(h)
        finally:
            c.close()

    def edge_saw(self, needle):
        """The stand-in's recent requests whose target contains `needle`."""
        return [r for r in e2e.standin_requests(self.s.standin_url, EDGE_TOKEN, self.s.pki.ca_cert)
                if needle in r["target"]]

    # ---- An answer sent before the request's body was read still reaches the client ----

    def test_an_answer_before_the_body_is_read_reaches_the_client(self):
        """A POST with a bad token and a large body: the hub refuses it without reading the body
        and ends the connection; the 401 must still reach a client that reads only after sending
        what it could."""
        body_len = 16 << 20
        head = ("POST /clusters/edge-1/api/v1/namespaces/default/configmaps HTTP/1.1\r\n"
                "Host: hub\r\nAuthorization: Bearer not-a-kubehub-token\r\n"
                f"Content-Type: application/json\r\nContent-Length: {body_len}\r\n\r\n").encode()
        c = Conn(self.s)
        try:
            c.send(head)
            c.sock.settimeout(0.3)
            piece = b"x" * 16384
            sent = 0
            try:
                while sent < body_len:
                    sent += c.sock.send(piece)
            except (socket.timeout, ssl.SSLError, OSError):
                pass  # the hub reads no more of it
            time.sleep(0.5)  # the answer, and the hub's end of the connection, arrive meanwhile
            c.sock.settimeout(10)
            try:
                status, _ = c.read_head()
            except (ConnectionError, OSError) as e:
                self.fail(f"the answer was lost ({e!r}) after {sent} body bytes")
            self.assertEqual(status, 401)
        finally:
            c.close()

    # ---- D1: impersonation must survive any number of user headers ----

    def test_d1_many_headers_are_refused_never_run_as_the_agent(self):
        review = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode()
        path = "/clusters/edge-1/apis/authentication.k8s.io/v1/selfsubjectreviews"
        for padding in (254, 256, 300):
            pad = {f"X-Pad-{i}": "x" for i in range(padding)}
            status, _, body = self.raw("POST", path, headers={"Content-Type": "application/json", **pad},
                                       body=review)
            self.assertEqual(status, 431, (padding, body[:300]))
            self.assertEqual(json.loads(body)["kind"], "Status")
            self.assertNotIn(b"username", body)
        pad = {f"X-Pad-{i}": "x" for i in range(200)}
        status, _, body = self.raw("POST", path, headers={"Content-Type": "application/json", **pad}, body=review)
        self.assertEqual(status, 201, body[:300])
        self.assertEqual(json.loads(body)["status"]["userInfo"]["username"], "alice")
        # Whatever reached the edge named a user, except the hub's own cache reads (GET only).
        for req in e2e.standin_requests(self.s.standin_url, EDGE_TOKEN, self.s.pki.ca_cert):
            names = [k.lower() for k, _ in req["headerList"]]
            agent_ua = dict((k.lower(), v) for k, v in req["headerList"]).get("user-agent", "")
            if agent_ua.startswith("Python-urllib"):
                continue  # this suite's own set-up, straight to the stand-in
            if "impersonate-user" not in names:
                self.assertEqual(req["method"], "GET", req)
                self.assertIn("kubehub", agent_ua, req)

    def test_forged_impersonation_in_any_case_is_dropped(self):
        for name in ("Impersonate-User", "impersonate-user", "IMPERSONATE-USER"):
            out = e2e.kubectl(self.s.kubeconfigs["bob"], "auth", "whoami", "-o", "json").stdout
            self.assertEqual(json.loads(out)["status"]["userInfo"]["username"], "bob")
            status, _, body = self.raw("GET", "/clusters/edge-1/api/v1/namespaces/a/configmaps", user="bob",
                                       headers={name: "alice", "Impersonate-Group": "system:masters"})
            self.assertEqual(status, 403, (name, body[:200]))

    # ---- D3: no stream is cut by the hub's own timeouts ----

    def _popen(self, user, *args):
        proc = subprocess.Popen([e2e.KUBECTL, "--kubeconfig", self.s.kubeconfigs[user], *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE,
                                text=True, env={**os.environ, "HOME": self.s.work.path})
        lines = []
        threading.Thread(target=lambda: [lines.append(l) for l in proc.stdout], daemon=True).start()
        return proc, lines

    def assert_running(self, proc, what):
        if proc.poll() is not None:
            self.fail(f"{what} ended (exit {proc.returncode}): {proc.stderr.read()[-500:]}")

    def test_d3_watches_outlive_every_hub_timeout(self):
        e2e.kubectl(self.s.kubeconfigs["alice"], "create", "configmap", "held", "-n", "a", "--from-literal=v=0")
        pod = e2e.kubectl(self.s.kubeconfigs["alice"], "get", "pods", "-n", "default", "-o",
                          "jsonpath={.items[0].metadata.name}").stdout
        cm_watch, cm_lines = self._popen("alice", "get", "cm", "held", "-n", "a", "-w", "-o",
                                         "custom-columns=N:.metadata.name,V:.data.v")
        pod_watch, pod_lines = self._popen("alice", "get", "pods", pod, "-n", "default", "-w", "-o",
                                           "custom-columns=N:.metadata.name,L:.metadata.labels.touched")
        try:
            e2e.wait_until(lambda: any("held" in l for l in cm_lines), what="cached watch's first row")
            e2e.wait_until(lambda: any(pod in l for l in pod_lines), what="forwarded watch's first row")
            time.sleep(HOLD)
            self.assert_running(cm_watch, "the cached watch")
            self.assert_running(pod_watch, "the forwarded watch")
            e2e.kubectl(self.s.kubeconfigs["alice"], "patch", "cm", "held", "-n", "a", "-p", '{"data":{"v":"1"}}')
            e2e.kubectl(self.s.kubeconfigs["alice"], "label", "pod", pod, "-n", "default", "touched=yes",
                        "--overwrite")
            e2e.wait_until(lambda: any("held" in l and l.split()[-1] == "1" for l in cm_lines),
                           what="an event on the cached watch after the hold")
            e2e.wait_until(lambda: any(pod in l and "yes" in l for l in pod_lines),
                           what="an event on the forwarded watch after the hold")
        finally:
            for p in (cm_watch, pod_watch):
                p.kill()
                p.wait(10)
            e2e.kubectl(self.s.kubeconfigs["alice"], "delete", "cm", "held", "-n", "a", check=False)

    def test_d3_forwarded_watch_ends_at_its_own_timeout_with_a_clean_end(self):
        c = Conn(self.s, timeout=30)
        try:
            c.send(request_bytes("GET", "/clusters/edge-1/api/v1/namespaces/default/pods?watch=1&timeoutSeconds="
                                 f"{HOLD + 2}", self.s.tokens["alice"]))
            status, h = c.read_head()
            self.assertEqual(status, 200)
            self.assertEqual(h.get("transfer-encoding"), "chunked")
            started = time.monotonic()
            # The terminating chunk arrives at the client's timeoutSeconds, not at a hub timeout.
            self.assertTrue(c.read_until(b"\r\n0\r\n\r\n", HOLD + 15), c.buf[-200:])
            self.assertGreaterEqual(time.monotonic() - started, HOLD)
        finally:
            c.close()

    def test_d3_logs_follow_and_exec_outlive_every_hub_timeout(self):
        pod = e2e.kubectl(self.s.kubeconfigs["alice"], "get", "pods", "-n", "default", "-o",
                          "jsonpath={.items[0].metadata.name}").stdout
        watches = lambda: metric(admin_get(self.s.hub, "/metrics")[1], "kubehub_hub_active_watches")  # noqa: E731
        before = watches()
        logs, log_lines = self._popen("alice", "logs", "-f", pod, "-n", "default")
        shell, shell_lines = self._popen("alice", "exec", "-i", pod, "-n", "default", "--", "cat")
        try:
            e2e.wait_until(lambda: len(log_lines) >= 1, timeout=30, what="followed log lines")
            shell.stdin.write("before\n")
            shell.stdin.flush()
            e2e.wait_until(lambda: "before\n" in shell_lines, what="exec echo before the hold")
            time.sleep(HOLD)
            self.assert_running(logs, "kubectl logs -f")
            self.assert_running(shell, "kubectl exec")
            seen = len(log_lines)
            e2e.wait_until(lambda: len(log_lines) > seen, timeout=30, what="log lines after the hold")
            shell.stdin.write("after\n")
            shell.stdin.flush()
            e2e.wait_until(lambda: "after\n" in shell_lines, what="exec echo after the hold")
        finally:
            for p in (logs, shell):
                p.kill()
                p.wait(10)
        # A user who kills kubectl ends the edge streams too: an exec whose process never ends
        # must not hold its tunnel stream (and the user's share of it) forever.
        e2e.wait_until(lambda: watches() <= before, timeout=20,
                       what=f"the killed logs -f and exec streams released (before: {before})")

    # ---- D4: one user cannot take a tunnel's streams ----

    def test_d4_stream_quotas_per_user_and_tenant(self):
        watch = "/clusters/edge-1/api/v1/namespaces/{ns}/pods?watch=1"
        held = []

        def open_watch(user, ns="a"):
            c = Conn(self.s)
            c.send(request_bytes("GET", watch.format(ns=ns), self.s.tokens[user]))
            status, h = c.read_head()
            if status == 200:
                held.append(c)
                return status, h, b""
            body = c.read_body(h)
            c.close()
            return status, h, body

        try:
            for _ in range(3):
                self.assertEqual(open_watch("alice")[0], 200)
            status, h, body = open_watch("alice")
            self.assertEqual(status, 429, body)
            self.assertEqual(h.get("retry-after"), "1")
            msg = json.loads(body)["message"]
            self.assertIn('user "alice"', msg)
            self.assertIn("--max-long-streams-per-user", msg)
            # alice's short requests still go through, and so do other tenants' watches.
            self.assertEqual(self.raw("GET", "/clusters/edge-1/api/v1/namespaces/a/pods")[0], 200)
            self.assertEqual(open_watch("bob", ns="b")[0], 200)
            # The tenant's share: carol gets the fourth, not a fifth.
            self.assertEqual(open_watch("carol")[0], 200)
            status, _, body = open_watch("carol")
            self.assertEqual(status, 429, body)
            self.assertIn('tenant "ta"', json.loads(body)["message"])
            # Shares come back when streams end.
            held.pop(0).close()
            e2e.wait_until(lambda: open_watch("carol")[0] == 200, timeout=10, what="a share given back")
            _, text = admin_get(self.s.hub, "/metrics")
            self.assertGreaterEqual(metric(text, "kubehub_hub_denials_total", tenant="ta",
                                           reason="stream_quota"), 2)
        finally:
            for c in held:
                c.close()

    # ---- D7: every request not answered by the hub goes through the grant check ----

    def test_d7_access_reviews_without_body_or_with_extra_path_are_not_forwarded(self):
        base = "/clusters/edge-1/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        marker = f"x-{os.urandom(4).hex()}"
        # bob's grant covers namespace b only; a review without a body says nothing to check.
        status, h, body = self.raw("POST", base + f"?m={marker}", user="bob",
                                   headers={"Content-Type": "application/json"}, body=b"")
        self.assertEqual(h.get("x-kubehub-served-from"), "hub", (status, body[:300]))
        self.assertFalse(json.loads(body)["status"]["allowed"])
        for extra in ("/x/y", "/x"):
            status, _, body = self.raw("POST", base + extra + f"?m={marker}", user="bob",
                                       headers={"Content-Type": "application/json"}, body=b"{}")
            self.assertEqual(status, 403, (extra, body[:300]))
        self.assertEqual(self.edge_saw(marker), [])

    # ---- D9: an early answer ends the connection ----

    def test_d9_early_answer_to_a_huge_upload_closes_the_connection(self):
        c = Conn(self.s, timeout=30)
        try:
            head = request_bytes("POST", "/clusters/edge-1/api/v1/namespaces/a/configmaps", self.s.tokens["alice"],
                                 ["Content-Type: application/json"])
            head = head.replace(b"Content-Length: 0", b"Content-Length: 2000000000")
            c.send(head + b'{"apiVersion":"v1"')
            status, h = c.read_head()
            self.assertEqual(status, 413)
            self.assertEqual(h.get("connection", "").lower(), "close")
            # Closed right after the answer, not after the idle timeout (30 s here).
            self.assertTrue(c.closed_within(10), "the hub kept reading a body that will never come")
        finally:
            c.close()

    # ---- bad input that was always refused stays refused ----

    def test_forged_and_garbage_tokens_are_401(self):
        header = "eyJhbGciOiJFZERTQSIsImtpZCI6IngifQ"
        for token in ("x", header + ".eyJzdWIiOiJhZG1pbiJ9.", header + ".eyJzdWIiOiJhZG1pbiJ9.AAAA",
                      "Bearer", "a" * 5000):
            status, _, body = self.raw("GET", "/clusters/edge-1/api/v1/namespaces", token=token)
            self.assertEqual(status, 401, (token[:40], body[:200]))

    def test_path_tricks_are_refused(self):
        for path in ("/clusters/edge-1/../edge-2/api/v1/namespaces",
                     "/clusters/edge-1/api/v1/namespaces/b/..%2F..%2Fa/configmaps",
                     "/clusters/edge-1/api/v1/namespaces/%2e%2e/a/configmaps",
                     "/clusters/edge-1//api/v1/namespaces/a/configmaps",
                     "/clusters/edge-1%00/api/v1/namespaces"):
            status, _, _ = self.raw("GET", path, user="bob")
            self.assertIn(status, (400, 403, 404), path)

    def test_agent_certificate_for_another_cluster_or_ca_is_refused(self):
        other = e2e.Pki(self.s.work.join("rogue-pki"), name="rogue-ca")
        crt, key = other.issue("rogue-agent", "edge-1", client=True)
        kc = e2e.write_kubeconfig(self.s.work.join("rogue.kubeconfig"), self.s.standin_url, self.s.pki.ca_cert,
                                  token=EDGE_TOKEN)
        rogue = e2e.Process([e2e.binary("kubehub-agent"), "--hub-url", f"wss://{self.s.hub.tunnel}/tunnel",
                             "--tls-cert", crt, "--tls-key", key, "--hub-ca", self.s.pki.ca_cert,
                             "--kubeconfig", kc, "--admin-listen", "127.0.0.1:0",
                             "--backoff-base", "100ms", "--backoff-max", "500ms"],
                            ready=r"tunnel down", log_path=self.s.work.join("rogue-agent.log"), timeout=30)
        try:
            self.assertNotIn("tunnel up", rogue.log_text())
        finally:
            rogue.kill()
        # The real agent kept its tunnel.
        self.assertIn("a", e2e.kubectl(self.s.kubeconfigs["alice"], "get", "ns", "a", "-o", "name").stdout)

    def test_protocol_garbage_on_the_tunnel_port_does_not_hurt(self):
        host, port = self.s.hub.tunnel.rsplit(":", 1)
        for garbage in (b"GET /tunnel HTTP/1.1\r\n\r\n", os.urandom(4096), b"\x16\x03\x01\xff\xff" + b"A" * 100):
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                try:
                    sock.sendall(garbage)
                    sock.recv(1024)
                except OSError:
                    pass
        self.assertEqual(admin_get(self.s.hub, "/healthz")[0], 200)
        self.assertIn("a", e2e.kubectl(self.s.kubeconfigs["alice"], "get", "ns", "a", "-o", "name").stdout)

    # ---- D2: descriptors and connections are bounded ----

    def test_d2_descriptor_exhaustion_does_not_end_the_hub(self):
        # 256 descriptors and no limit on users' connections: idle connections exhaust them,
        # as 20,000 would with the usual limits. The metaserver sync runs all along.
        hub = self.s.start_hub("hub-fd", ["--max-connections", "0", "--max-connections-per-client", "0"],
                               prefix=["prlimit", "--nofile=256"])
        host, port = hub.users.rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=self.s.pki.ca_cert)
        established = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10), server_hostname=host)
        idle = []
        try:
            for _ in range(300):
                try:
                    idle.append(socket.create_connection((host, int(port)), timeout=2))
                except OSError:
                    break
            time.sleep(2)  # several metaserver sync passes (every 250 ms) while out of descriptors
            self.assertIsNone(hub.proc.proc.poll(), "the hub died:\n" + hub.proc.log_text()[-2000:])
            # The established connection is still served.
            established.sendall(request_bytes("GET", "/clusters/edge-1/api/v1/namespaces", self.s.tokens["alice"]))
            self.assertIn(b"HTTP/1.1 ", established.recv(4096)[:16])
        finally:
            for sock in idle:
                sock.close()
            established.close()
        # Once the idle connections are gone, new ones are served again.
        e2e.wait_until(lambda: admin_get(hub, "/healthz")[0] == 200, timeout=20, what="admin answers again")
        status, _ = admin_get(hub, "/metrics")
        self.assertEqual(status, 200)
        hub.proc.wait_for_log(r"out of file descriptors", timeout=5)
        self.assertIsNone(hub.proc.proc.poll())
        hub.proc.kill()

    def test_d2_connections_per_client_are_bounded(self):
        # A soft descriptor limit below the hard one is raised at start, and the default cap on
        # users' connections is half of it.
        hub = self.s.start_hub("hub-conn", ["--max-connections-per-client", "5"],
                               prefix=["prlimit", "--nofile=256:8192"])
        self.assertRegex(hub.proc.log_text(), r'msg="hub started".* max_connections=4096 descriptor_limit=8192')
        host, port = hub.users.rsplit(":", 1)
        idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(5)]
        try:
            e2e.wait_until(lambda: metric(admin_get(hub, "/metrics")[1], "kubehub_hub_user_connections") >= 5,
                           what="five connections held")
            extra = socket.create_connection((host, int(port)), timeout=5)
            extra.settimeout(5)
            self.assertEqual(extra.recv(1), b"", "a sixth connection from the same address was kept")
            extra.close()
            text = admin_get(hub, "/metrics")[1]
            self.assertGreaterEqual(metric(text, "kubehub_hub_user_connections_refused_total",
                                           reason="per_client"), 1)
        finally:
            for sock in idle:
                sock.close()
        e2e.wait_until(lambda: metric(admin_get(hub, "/metrics")[1], "kubehub_hub_user_connections") == 0,
                       what="connections given back")
        status, _, _ = self.raw_on(hub, "GET", "/clusters/edge-1/api/v1/namespaces")
        self.assertEqual(status, 503)  # served (no agent on this hub), not refused
        hub.proc.kill()

    def test_d2_memory_of_closed_connections_is_returned(self):
        hub = self.s.start_hub("hub-mem", ["--max-connections-per-client", "0", "--threads", "1", "--log-level", "debug"])
        pid = hub.proc.proc.pid

        def rss_kib():
            return int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{pid}/status").read()).group(1))

        host, port = hub.users.rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=self.s.pki.ca_cert)
        base = rss_kib()
        conns = [ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10), server_hostname=host)
                 for _ in range(600)]
        e2e.wait_until(lambda: metric(admin_get(hub, "/metrics")[1], "kubehub_hub_user_connections") >= 600,
                       what="600 connections held")
        held = rss_kib()
        grown = held - base
        # ~24 KiB each, the SSL object and a small read buffer (see hub/README.md "Limits and
        # timeouts"): enough that the return of it below is measurable.
        self.assertGreater(grown, 600 * 12, (base, held))
        for c in conns:
            c.close()
        # The allocator keeps freed memory unless told to give it back; the hub does so within
        # seconds of many connections closing.
        samples = []

        def returned():
            samples.append(rss_kib())
            return samples[-1] < base + grown * 0.4
        try:
            e2e.wait_until(returned, timeout=30, interval=0.5,
                           what=f"RSS back near {base} KiB after closing (held {held} KiB)")
        except TimeoutError as e:
            trims = [l for l in hub.proc.log_text().splitlines() if "returned freed" in l]
            open_now = metric(admin_get(hub, "/metrics")[1], "kubehub_hub_user_connections")
            raise AssertionError(f"{e}; RSS samples {samples[::4]}; open {open_now}; trims {trims}") from None
        hub.proc.kill()

    def raw_on(self, hub, method, path):
        c = Conn(self.s, hub=hub)
        try:
            c.send(request_bytes(method, path, self.s.tokens["alice"]))
            status, h = c.read_head()
            return status, h, b""
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main()
