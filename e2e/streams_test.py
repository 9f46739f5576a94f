"""Every stream kubectl has, through the hub: port-forward (SPDY/3.1 for kubectl before 1.31,
SPDY tunnelled in WebSocket from 1.31) and exec over SPDY (before 1.30) or WebSocket, with the
kubectl versions users run, directly against the edge API server stand-in and through
hub + tunnel + agent, and across a peer link between two hubs.

Port-forward moves data through the pod's echo server (the stand-in runs one per declared
containerPort) on two connections at once and checks it by SHA-256; a port nobody listens on
gives kubectl the kubelet's error, the same through the hub as directly. The python client's
`portforward` (the kubelet's own WebSocket protocol, v4.channel.k8s.io) does the same, and its
`stream` runs exec through the hub.

`kubectl cp` (tar over exec, stdin streamed in for copies into the pod) moves a directory tree
into the stand-in's in-memory container file system and back, checked file by file by SHA-256;
a missing path gives the same kubectl output through the hub as directly.

`kubectl exec -it` runs on a pseudo-terminal of the test's own, whose window is resized while
the remote shell reports `stty size`. A kubectl killed mid-stream leaves nothing open on the
agent or the edge. A port-forward connection whose user never reads stalls under flow control
without slowing another stream of the same tunnel."""
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
from kubernetes import client as kclient  # noqa: E402
from kubernetes import config as kconfig  # noqa: E402
from kubernetes import stream as kstream  # noqa: E402
from fleet import FleetTestCase, routes  # noqa: E402

USER_TOKEN = "user-token-streams-0123456789"
EDGE_TOKEN = "edge-agent-token-streams-0123456789"
# Bytes each way on each of two concurrent connections.
PF_BYTES = int(os.environ.get("KUBEHUB_E2E_PF_MB", "50")) * 1024 * 1024
# What the stalled connection tries to send: far more than every buffer on its way can hold.
STALL_MB = int(os.environ.get("KUBEHUB_E2E_STALL_MB", "256"))
# How much hub or agent memory may grow while a stream is stalled and another one runs.
STALL_RSS_BOUND = 48 << 20
VERSIONS = ("1.27", "1.30", "1.33")
# What each kubectl asks the API server for: SPDY/3.1 until 1.30, WebSocket (tunnelling SPDY
# for port-forward, v5 channels for exec) from 1.31 for port-forward and 1.30 for exec.
PF_UPGRADE = {"1.27": "SPDY/3.1", "1.30": "SPDY/3.1", "1.33": "websocket"}
EXEC_UPGRADE = {"1.27": "SPDY/3.1", "1.30": "websocket", "1.33": "websocket"}
# Bytes echoed through the python client's port-forward (its proxy thread is slower).
PY_PF_BYTES = int(os.environ.get("KUBEHUB_E2E_PY_PF_MB", "4")) * 1024 * 1024
# The random file in the tree `kubectl cp` copies into the pod and back.
CP_BLOB_BYTES = int(os.environ.get("KUBEHUB_E2E_CP_MB", "3")) * 1024 * 1024
# Throughput figures the tests measured, printed at the end of the module.
FIGURES = []


def kubectl_binary(version):
    """kubectl VERSION installed next to the default kubectl, or None."""
    default = shutil.which(e2e.KUBECTL) or e2e.KUBECTL
    path = os.path.join(os.path.dirname(os.path.realpath(default)), f"kubectl.{version}")
    return path if os.access(path, os.X_OK) else None


def make_cp_tree(root):
    """A local tree for kubectl cp: nested directories, small files, an empty directory, a name
    longer than a tar header holds and a few MB of random bytes. Returns tree_digests(root)."""
    files = {
        "a.txt": b"alpha\n",
        "sub/b.txt": b"beta\n" * 100,
        "sub/deeper/c.json": b'{"c": 3}\n',
        "sub/blob.bin": os.urandom(CP_BLOB_BYTES),
        "long/" + "n" * 120 + ".txt": b"a name longer than the 100 bytes of a tar header\n",
    }
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    os.makedirs(os.path.join(root, "empty"))
    return tree_digests(root)


def tree_digests(root):
    """Every entry under root: relative path -> "dir" or the file's SHA-256."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for name in filenames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = file_digest(os.path.join(dirpath, name))
    return out


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class PortForward:
    """A running `kubectl port-forward pod/POD :PORT`; `port` is the local port it bound."""

    def __init__(self, kubectl, kubeconfig, pod, remote, home):
        env = {**os.environ, "HOME": home}
        self.proc = subprocess.Popen([kubectl, "--kubeconfig", kubeconfig, "port-forward", "-n", "default",
                                      f"pod/{pod}", f":{remote}", "--address", "127.0.0.1"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.out, self.err = [], []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, l=lines: [l.append(x) for x in s], daemon=True).start()
        rx = re.compile(rf"Forwarding from 127\.0\.0\.1:(\d+) -> {remote}")
        m = e2e.wait_until(lambda: next((rx.search(l) for l in self.out if rx.search(l)), None)
                           or (self.proc.poll() is not None and "exited"), timeout=30,
                           what="kubectl port-forward listening")
        if m == "exited":
            raise AssertionError(f"kubectl port-forward exited: {''.join(self.err)}")
        self.port = int(m.group(1))

    def stderr(self):
        return "".join(self.err)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


class TerminalSession:
    """`kubectl exec -it` on a pseudo-terminal of the test's own: keys typed at the master side,
    what the user's screen shows, and the window resized as a terminal emulator does it (the
    new size set on the terminal, then SIGWINCH to kubectl)."""

    def __init__(self, kubectl, kubeconfig, home, rows, cols, command=("sh",)):
        self.master, slave = os.openpty()
        self.set_size(rows, cols)
        self.proc = subprocess.Popen([kubectl, "--kubeconfig", kubeconfig, "exec", "-it", "-n", "default",
                                      "web-1", "--", *command], stdin=slave, stdout=slave, stderr=slave,
                                     env={**os.environ, "HOME": home}, start_new_session=True)
        os.close(slave)
        self.screen = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO once kubectl, the last holder of the terminal, is gone
                return
            if not data:
                return
            with self.lock:
                self.screen += data

    def set_size(self, rows, cols):
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def resize(self, rows, cols):
        self.set_size(rows, cols)
        os.kill(self.proc.pid, signal.SIGWINCH)

    def type(self, keys):
        os.write(self.master, keys.encode())

    def text(self):
        with self.lock:
            return self.screen.decode(errors="replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        os.close(self.master)


def edge_sessions(standin_url, ca_file):
    """The stand-in's open exec, attach and port-forward sessions by kind."""
    status, body = e2e.https_json(standin_url + "/standin/stats", EDGE_TOKEN, ca_file)
    if status != 200:
        raise AssertionError(f"/standin/stats answered {status}: {body}")
    return body["sessions"]


def echo_round_trip(port, data, result):
    """Sends `data` to 127.0.0.1:PORT, half-closes, reads until EOF; result: (bytes, sha256)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    digest = hashlib.sha256()
    got = 0

    def send():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        digest.update(chunk)
        got += len(chunk)
    sender.join(60)
    s.close()
    result.append((got, digest.hexdigest()))


class StreamsTestBase:
    """Checks shared by the single-hub and the fleet scenarios."""

    def home(self):
        raise NotImplementedError

    def forward_and_check(self, version, kubeconfig, label, pod="web-1", remote=80):
        kubectl = kubectl_binary(version)
        if kubectl is None:
            self.skipTest(f"kubectl {version} is not installed")
        payloads = [os.urandom(1 << 20) * (PF_BYTES >> 20) for _ in range(2)]
        want = [hashlib.sha256(p).hexdigest() for p in payloads]
        pf = PortForward(kubectl, kubeconfig, pod, remote, self.home())
        try:
            results = [[], []]
            threads = [threading.Thread(target=echo_round_trip, args=(pf.port, p, r), daemon=True)
                       for p, r in zip(payloads, results)]
            start = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            elapsed = time.monotonic() - start
            for r, w in zip(results, want):
                self.assertTrue(r, f"a connection did not finish; kubectl said:\n{pf.stderr()}")
                self.assertEqual(r[0], (PF_BYTES, w), f"kubectl said:\n{pf.stderr()}")
        finally:
            pf.close()
        mbps = 2 * PF_BYTES / elapsed / 1e6
        FIGURES.append(f"port-forward kubectl {version} {label}: 2 x {PF_BYTES >> 20} MB echoed in "
                       f"{elapsed:.2f}s = {mbps:.0f} MB/s each way")
        return mbps

    def refused_port(self, version, kubeconfig):
        """The kubelet's words for a port nobody listens on, as this kubectl printed them."""
        kubectl = kubectl_binary(version)
        if kubectl is None:
            self.skipTest(f"kubectl {version} is not installed")
        pf = PortForward(kubectl, kubeconfig, "web-1", 81, self.home())
        try:
            s = socket.create_connection(("127.0.0.1", pf.port), timeout=30)
            s.sendall(b"anyone there?")
            try:
                ended = s.recv(100)
            except ConnectionResetError:
                ended = b""  # kubectl closed it with our bytes unread: a reset, not a FIN
            self.assertEqual(ended, b"", "nothing listens on 81: the connection ends")
            s.close()
            e2e.wait_until(lambda: "error forwarding port 81" in pf.stderr(), timeout=20,
                           what="kubectl reporting the refused port")
        finally:
            pf.close()
        # Newer kubectl quote the message inside a structured log line.
        m = re.search(r"error forwarding port 81 to pod \w+, uid : .*connection refused",
                      pf.stderr().replace('\\"', '"'))
        self.assertIsNotNone(m, pf.stderr())
        return m.group(0)


class StreamsTest(StreamsTestBase, unittest.TestCase):
    """stand-in + hub + agent; kubectl directly and through the hub."""

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
        for line in FIGURES:
            print(line, file=sys.stderr)

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            type(self).failed = True

    def home(self):
        return self.work.path

    def last_upgrade(self, subresource):
        """The Upgrade header of the newest request for `subresource` the edge saw."""
        reqs = e2e.standin_requests(self.standin_url, EDGE_TOKEN, self.pki.ca_cert)
        for r in reversed(reqs):
            if f"/{subresource}" in r["target"]:
                return {k.lower(): v for k, v in r["headers"].items()}.get("upgrade")
        return None

    def test_port_forward_moves_data_both_ways_direct_and_through_the_hub(self):
        for version in VERSIONS:
            with self.subTest(kubectl=version):
                direct = self.forward_and_check(version, self.direct, "direct")
                self.assertEqual(self.last_upgrade("portforward"), PF_UPGRADE[version])
                hub = self.forward_and_check(version, self.via_hub, "through the hub")
                self.assertEqual(self.last_upgrade("portforward"), PF_UPGRADE[version],
                                 "the hub and agent pass the upgrade on as kubectl asked for it")
                self.assertGreater(hub, 0)
                self.assertGreater(direct, 0)

    def test_port_forward_to_a_port_nobody_listens_on(self):
        for version in ("1.27", "1.33"):
            with self.subTest(kubectl=version):
                direct = self.refused_port(version, self.direct)
                self.assertEqual(self.refused_port(version, self.via_hub), direct,
                                 "the hub passes the kubelet's error on unchanged")

    def test_port_forward_to_a_missing_pod_is_404(self):
        r = e2e.kubectl(self.via_hub, "port-forward", "-n", "default", "pod/no-such-pod", ":80", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('pods "no-such-pod" not found', r.stderr)

    def test_exec_with_stdin_through_the_hub(self):
        for version in VERSIONS:
            kubectl = kubectl_binary(version)
            if kubectl is None:
                continue
            with self.subTest(kubectl=version):
                data = "".join(f"line {i} through the tunnel\n" for i in range(2000))
                r = subprocess.run([kubectl, "--kubeconfig", self.via_hub, "exec", "-i", "-n", "default", "web-1",
                                    "--", "cat"], input=data, capture_output=True, text=True, timeout=60,
                                   env={**os.environ, "HOME": self.work.path})
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout, data)
                self.assertEqual(self.last_upgrade("exec"), EXEC_UPGRADE[version])
                r = subprocess.run([kubectl, "--kubeconfig", self.via_hub, "exec", "-n", "default", "web-1",
                                    "--", "sh", "-c", "exit 3"], capture_output=True, text=True, timeout=60,
                                   env={**os.environ, "HOME": self.work.path})
                self.assertEqual(r.returncode, 3, r.stderr)
                r = subprocess.run([kubectl, "--kubeconfig", self.via_hub, "attach", "-i", "-n", "default", "web-1"],
                                   input="typed\n", capture_output=True, text=True, timeout=60,
                                   env={**os.environ, "HOME": self.work.path})
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("typed", r.stdout)

    def python_core(self, kubeconfig):
        """A CoreV1Api of the Debian python3-kubernetes client for `kubeconfig`."""
        api = kconfig.new_client_from_config(config_file=kubeconfig)
        self.addCleanup(api.close)
        return kclient.CoreV1Api(api)

    def python_forward(self, kubeconfig, label):
        """`kubernetes.stream.portforward` to web-1:80 and 81 (the kubelet's own WebSocket
        protocol, v4.channel.k8s.io): PY_PF_BYTES echoed on 80 checked by SHA-256, the
        kubelet's error on 81. Returns that error."""
        core = self.python_core(kubeconfig)
        payload = os.urandom(1 << 20) * (PY_PF_BYTES >> 20)
        want = hashlib.sha256(payload).hexdigest()
        pf = kstream.portforward(core.connect_get_namespaced_pod_portforward, "web-1", "default",
                                 ports="80,81")
        try:
            sock = pf.socket(80)
            sock.settimeout(60)
            start = time.monotonic()
            sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
            sender.start()
            digest = hashlib.sha256()
            got = 0
            while got < len(payload):
                chunk = sock.recv(1 << 20)
                self.assertTrue(chunk, f"the forwarded connection ended after {got} bytes; "
                                       f"error channel: {pf.error(80)!r}")
                digest.update(chunk)
                got += len(chunk)
            elapsed = time.monotonic() - start
            sender.join(60)
            self.assertEqual((got, digest.hexdigest()), (len(payload), want))
            self.assertIsNone(pf.error(80), "nothing on port 80's error channel")
            e2e.wait_until(lambda: pf.error(81), timeout=20, what="the error for port 81")
            refused = pf.error(81)
        finally:
            pf.close()
        FIGURES.append(f"port-forward python client {label}: {PY_PF_BYTES >> 20} MB echoed in "
                       f"{elapsed:.2f}s")
        headers = {}
        for r in reversed(e2e.standin_requests(self.standin_url, EDGE_TOKEN, self.pki.ca_cert)):
            if "/portforward" in r["target"]:
                headers = {k.lower(): v for k, v in r["headers"].items()}
                self.assertRegex(r["target"], r"[?&]ports=80(%2C|,)81(&|$)")
                break
        self.assertEqual(headers.get("upgrade"), "websocket")
        self.assertEqual(headers.get("sec-websocket-protocol"), "v4.channel.k8s.io")
        m = re.fullmatch(r"error forwarding port 81 to pod \w+, uid : .*connection refused ", refused)
        self.assertIsNotNone(m, refused)
        return refused

    def test_python_client_port_forward_direct_and_through_the_hub(self):
        direct = self.python_forward(self.direct, "direct")
        self.assertEqual(self.python_forward(self.via_hub, "through the hub"), direct,
                         "the hub passes the kubelet's error on unchanged")
        e2e.wait_until(lambda: edge_sessions(self.standin_url, self.pki.ca_cert)["portforward"] == 0,
                       timeout=30, what="the edge closing the python client's port-forwards")

    def test_python_client_exec_through_the_hub(self):
        # The client waits with select() on its socket before reading a frame, so a frame that
        # came in the same TLS record as the one before would sit unseen in its TLS buffer: the
        # hub writes each WebSocket frame in a record of its own, as the API server does.
        # Pipelined: three commands written at once, their answers read as they come.
        core = self.python_core(self.via_hub)
        ws = kstream.stream(core.connect_get_namespaced_pod_exec, "web-1", "default", command=["sh"],
                            stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False)
        out = {1: "", 2: "", 3: ""}
        try:
            self.assertTrue(ws.is_open())
            ws.write_stdin("echo one\nnope\necho two\nexit 3\n")
            deadline = time.monotonic() + 20
            while "}" not in out[3] and time.monotonic() < deadline:
                ws.update(timeout=100)  # milliseconds; peek_channel also reads a frame
                for channel in out:
                    if ws.peek_channel(channel):
                        out[channel] += ws.read_channel(channel)
            for channel in out:  # frames read by the last peeks
                out[channel] += ws.read_channel(channel) if ws.peek_channel(channel) else ""
        finally:
            ws.close()
        self.assertEqual(out[1], "one\ntwo\n")
        self.assertEqual(out[2], "sh: 2: nope: not found\n")
        status = json.loads(out[3])
        self.assertEqual(status["reason"], "NonZeroExitCode", status)
        self.assertEqual(status["details"]["causes"][0]["message"], "3", status)
        # The preloaded form reads until the connection closes: the output, the Status and the
        # close frame come back to back. Same answer directly and through the hub, and no wait
        # for a frame already received.
        answers = {}
        for label, kubeconfig in (("direct", self.direct), ("through the hub", self.via_hub)):
            core = self.python_core(kubeconfig)
            done = []
            started = time.monotonic()
            t = threading.Thread(target=lambda: done.append(kstream.stream(
                core.connect_get_namespaced_pod_exec, "web-1", "default",
                command=["sh", "-c", "echo out; echo err >&2; echo more"],
                stdin=False, stdout=True, stderr=True, tty=False)), daemon=True)
            t.start()
            t.join(20)
            self.assertTrue(done, f"the preloaded exec {label} did not end within 20 s")
            answers[label] = done[0]
            FIGURES.append(f"python client exec, preloaded, {label}: {(time.monotonic() - started) * 1000:.0f} ms")
        self.assertEqual(answers["through the hub"], answers["direct"])
        self.assertIn("out\n", answers["direct"])

    def cp(self, version, kubeconfig, *args, check=True):
        """`kubectl cp -n default ARGS` with kubectl VERSION."""
        kubectl = kubectl_binary(version)
        if kubectl is None:
            self.skipTest(f"kubectl {version} is not installed")
        r = subprocess.run([kubectl, "--kubeconfig", kubeconfig, "cp", "-n", "default", *args],
                           capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": self.work.path})
        if check:
            self.assertEqual(r.returncode, 0, f"kubectl cp {' '.join(args)}:\n{r.stdout}\n{r.stderr}")
        return r

    def test_cp_a_tree_into_a_pod_and_back_direct_and_through_the_hub(self):
        src = self.work.join("cp-src", "tree")
        want = make_cp_tree(src)
        for version in VERSIONS:
            for label, kubeconfig in (("direct", self.direct), ("hub", self.via_hub)):
                with self.subTest(kubectl=version, via=label):
                    remote = f"/tmp/cp-{version}-{label}"
                    start = time.monotonic()
                    self.cp(version, kubeconfig, src, f"web-1:{remote}")
                    self.assertEqual(self.last_upgrade("exec"), EXEC_UPGRADE[version])
                    out = self.work.join(f"cp-out-{version}-{label}")
                    self.cp(version, kubeconfig, f"web-1:{remote}", out)
                    elapsed = time.monotonic() - start
                    self.assertEqual(tree_digests(out), want, "every file and directory comes back as it went in")
                    # A single file out, to a file name.
                    one = self.work.join(f"cp-blob-{version}-{label}.bin")
                    self.cp(version, kubeconfig, f"web-1:{remote}/sub/blob.bin", one)
                    self.assertEqual(file_digest(one), want["sub/blob.bin"])
                    # A file the pod starts with.
                    hostname = self.work.join(f"cp-hostname-{version}-{label}")
                    self.cp(version, kubeconfig, "web-1:/etc/hostname", hostname)
                    with open(hostname) as f:
                        self.assertEqual(f.read(), "web-1\n")
                    # With --retries kubectl reads through `sh -c "tar cf - PATH | tail -c+N"`.
                    retried = self.work.join(f"cp-retries-{version}-{label}")
                    self.cp(version, kubeconfig, "--retries=3", f"web-1:{remote}", retried)
                    self.assertEqual(tree_digests(retried), want)
                    FIGURES.append(f"cp kubectl {version} {label}: {CP_BLOB_BYTES >> 20} MB tree in and out "
                                   f"in {elapsed:.2f}s")

    def test_cp_of_a_missing_path_says_the_same_through_the_hub(self):
        tar_missing = ["tar: Removing leading `/' from member names",
                       "tar: /nope: Cannot stat: No such file or directory",
                       "tar: Exiting with failure status due to previous errors"]
        local = self.work.join("cp-one-file.txt")
        with open(local, "w") as f:
            f.write("one file\n")
        for version in VERSIONS:
            with self.subTest(kubectl=version):
                seen = {}
                for label, kubeconfig in (("direct", self.direct), ("hub", self.via_hub)):
                    # Into a directory that does not exist: tar fails before it reads, kubectl
                    # prints its stderr and the exit code and exits with it.
                    into = self.cp(version, kubeconfig, local, "web-1:/nope/dir/file.txt", check=False)
                    # Out of a path that does not exist: tar says so and sends an empty archive.
                    # kubectl prints tar's stderr on its stdout and exits 0 once it has read the
                    # archive, racing the goroutines that print (kubernetes/kubectl#980): the
                    # lines it shows are some first ones of tar's, possibly none.
                    dest = self.work.join(f"cp-missing-{version}-{label}")
                    out = self.cp(version, kubeconfig, "web-1:/nope", dest, check=False)
                    printed = out.stdout.splitlines()
                    self.assertEqual(printed, tar_missing[:len(printed)], f"{label}: {out.stdout}")
                    # The same tar run through kubectl exec, which waits for every stream.
                    tar = subprocess.run([kubectl_binary(version), "--kubeconfig", kubeconfig, "exec", "-n", "default",
                                          "web-1", "--", "tar", "cf", "-", "/nope"], capture_output=True, timeout=60,
                                         env={**os.environ, "HOME": self.work.path})
                    # tar exits before it reads stdin; kubectl may then log that copying the rest of
                    # its stdin failed (client-go's stdin copier, `E... v2.go:NNN] ...`), depending on
                    # when the connection closes, as against a real kubelet: not the server's words.
                    into_err = "".join(l for l in into.stderr.splitlines(keepends=True)
                                       if not re.match(r"E\d{4} [\d:.]+ +\d+ v2\.go:\d+\] ", l))
                    seen[label] = {"into": (into.returncode, into.stdout, into_err),
                                   "out": (out.returncode, out.stderr, os.path.exists(dest)),
                                   "exec": (tar.returncode, hashlib.sha256(tar.stdout).hexdigest(),
                                            tar.stderr.decode())}
                self.assertEqual(seen["hub"], seen["direct"], "the hub passes tar's words and status on unchanged")
                rc, _, stderr = seen["direct"]["into"]
                self.assertEqual(rc, 2, stderr)
                self.assertEqual(stderr, "tar: /nope/dir: Cannot open: No such file or directory\n"
                                         "tar: Error is not recoverable: exiting now\n"
                                         "command terminated with exit code 2\n")
                self.assertEqual(seen["direct"]["out"], (0, "", False))
                rc, digest, stderr = seen["direct"]["exec"]
                self.assertEqual(rc, 2)
                self.assertEqual(digest, hashlib.sha256(bytes(10240)).hexdigest(), "an empty archive, one record")
                self.assertEqual(stderr, "\n".join(tar_missing) + "\ncommand terminated with exit code 2\n")


    def ask_size(self, session, want, what):
        """Types `echo MARKER; stty size` at the remote shell until it reports `want` (ROWS, COLS);
        returns every answer. A resize travels on a stream of its own, beside the keys typed, so
        an answer may come before the size it follows has arrived."""
        answers = []

        def answered_want():
            session.asked = getattr(session, "asked", 0) + 1
            marker = f"m{session.asked}"
            session.type(f"echo {marker}; stty size\r")
            m = e2e.wait_until(lambda: re.search(rf"\n{marker}\r\n(\d+) (\d+)\r\n", session.text()),
                               timeout=20, what=f"the shell answering ({what})")
            answers.append((int(m.group(1)), int(m.group(2))))
            return answers[-1] == want
        e2e.wait_until(answered_want, timeout=40, interval=0.2, what=f"stty size reporting {want} {what}")
        return answers

    def test_exec_on_a_terminal_follows_resizes(self):
        for version in VERSIONS:
            kubectl = kubectl_binary(version)
            if kubectl is None:
                continue
            for via, kubeconfig in (("direct", self.direct), ("through the hub", self.via_hub)):
                with self.subTest(kubectl=version, via=via):
                    session = TerminalSession(kubectl, kubeconfig, self.work.path, 37, 111)
                    try:
                        e2e.wait_until(lambda: session.text().endswith("# ") or session.proc.poll() is not None,
                                       timeout=30, what="the remote shell's prompt")
                        self.assertIsNone(session.proc.poll(), f"kubectl exited: {session.text()}")
                        before = self.ask_size(session, (37, 111), "before the resize")
                        session.resize(52, 173)
                        after = self.ask_size(session, (52, 173), "after the resize")
                        # A terminal has one output: the shell's errors show among the rest.
                        session.type("nosuch\r")
                        e2e.wait_until(lambda: "nosuch: not found\r\n# " in session.text(), timeout=20,
                                       what="the shell's error on the terminal")
                        session.type("exit 3\r")
                        e2e.wait_until(lambda: session.proc.poll() is not None, timeout=30,
                                       what="kubectl ending with the shell")
                        self.assertEqual(session.proc.returncode, 3, session.text())
                    finally:
                        session.close()
                    self.assertEqual(before[-1], (37, 111))
                    self.assertEqual(after[-1], (52, 173))
                    self.assertEqual(self.last_upgrade("exec"), EXEC_UPGRADE[version])
                    reqs = e2e.standin_requests(self.standin_url, EDGE_TOKEN, self.pki.ca_cert)
                    target = next(r["target"] for r in reversed(reqs) if "/exec" in r["target"])
                    self.assertIn("tty=true", target)
                    self.assertNotIn("stderr=true", target, "kubectl asks for no stderr on a terminal")

    def open_streams(self):
        """(upgraded streams on the agent, exec sessions at the edge, port-forward sessions at
        the edge)."""
        sessions = edge_sessions(self.standin_url, self.pki.ca_cert)
        return (e2e.metric_total(self.agent.admin(), "kubehub_agent_upgraded_streams"),
                sessions["exec"], sessions["portforward"])

    def test_a_killed_kubectl_leaves_no_stream_open(self):
        e2e.wait_until(lambda: self.open_streams() == (0, 0, 0), timeout=30,
                       what="no stream left open by earlier tests")
        for version in ("1.27", "1.33"):
            kubectl = kubectl_binary(version)
            if kubectl is None:
                continue
            with self.subTest(kubectl=version):
                cat = subprocess.Popen([kubectl, "--kubeconfig", self.via_hub, "exec", "-i", "-n", "default", "web-1",
                                        "--", "cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, env={**os.environ, "HOME": self.work.path})
                pf = None
                conn = None
                try:
                    echoed = []
                    threading.Thread(target=lambda: echoed.append(cat.stdout.readline()), daemon=True).start()
                    cat.stdin.write(b"still here\n")
                    cat.stdin.flush()
                    e2e.wait_until(lambda: echoed, timeout=30, what="cat answering through the hub")
                    self.assertEqual(echoed[0], b"still here\n")
                    pf = PortForward(kubectl, self.via_hub, "web-1", 80, self.work.path)
                    conn = socket.create_connection(("127.0.0.1", pf.port), timeout=30)
                    conn.sendall(b"x" * 4096)
                    got = 0
                    while got < 4096:
                        chunk = conn.recv(65536)
                        self.assertTrue(chunk, "the forwarded connection ended early")
                        got += len(chunk)
                    self.assertEqual(self.open_streams(), (2, 1, 1), "one exec and one port-forward open")
                    killed = time.monotonic()
                    cat.kill()
                    pf.proc.kill()
                    e2e.wait_until(lambda: self.open_streams() == (0, 0, 0), timeout=30,
                                   what="the agent and the edge closing the killed kubectl's streams")
                    FIGURES.append(f"kubectl {version} killed during exec and port-forward through the hub: "
                                   f"agent and edge streams closed {time.monotonic() - killed:.1f}s later")
                finally:
                    if conn is not None:
                        conn.close()
                    if cat.poll() is None:
                        cat.kill()
                    cat.wait(10)
                    for f in (cat.stdin, cat.stdout, cat.stderr):
                        try:
                            f.close()
                        except OSError:
                            pass
                    if pf is not None:
                        pf.close()

    def test_a_stalled_port_forward_does_not_slow_another_stream(self):
        kubectl = kubectl_binary("1.33")
        if kubectl is None:
            self.skipTest("kubectl 1.33 is not installed")
        payload = os.urandom(1 << 20) * (PF_BYTES >> 20)
        want = (len(payload), hashlib.sha256(payload).hexdigest())

        def timed_transfer():
            pf = PortForward(kubectl, self.via_hub, "web-1", 80, self.work.path)
            try:
                result = []
                start = time.monotonic()
                echo_round_trip(pf.port, payload, result)
                elapsed = time.monotonic() - start
            finally:
                pf.close()
            self.assertEqual(result[0], want, f"kubectl said:\n{pf.stderr()}")
            return len(payload) / elapsed / 1e6

        alone = timed_transfer()
        # A connection on another kubectl port-forward (another stream of the same tunnel) that
        # sends and never reads: the echo backs up to the hub, and flow control stops its sender.
        block = os.urandom(1 << 20)
        total = STALL_MB << 20
        stalled_pf = PortForward(kubectl, self.via_hub, "web-1", 80, self.work.path)
        stalled = socket.create_connection(("127.0.0.1", stalled_pf.port))
        sent = [0]

        def push():
            try:
                while sent[0] < total:
                    stalled.sendall(block)
                    sent[0] += len(block)
                stalled.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        pusher = threading.Thread(target=push, daemon=True)
        try:
            pusher.start()

            def no_progress():
                before = sent[0]
                time.sleep(0.5)
                return sent[0] == before
            e2e.wait_until(no_progress, timeout=60, what="the unread connection stalling")
            stalled_at = sent[0]
            self.assertLess(stalled_at, total, "the unread connection took everything: it never stalled")
            pids = {"hub": self.hub.proc.proc.pid, "agent": self.agent.proc.proc.pid}
            rss_before = {k: e2e.rss_bytes(p) for k, p in pids.items()}
            beside = timed_transfer()
            rss_after = {k: e2e.rss_bytes(p) for k, p in pids.items()}
            self.assertLess(sent[0], total, "the stalled connection is still stalled")
            self.assertIsNone(stalled_pf.proc.poll(), stalled_pf.stderr())
            for k in pids:
                self.assertLess(rss_after[k] - rss_before[k], STALL_RSS_BOUND,
                                f"{k} RSS grew {(rss_after[k] - rss_before[k]) >> 20} MiB")
            # Not dropped: reading again resumes it, and every byte comes back in order.
            digest = hashlib.sha256()
            got = 0
            stalled.settimeout(60)
            while True:
                chunk = stalled.recv(1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                got += len(chunk)
            pusher.join(60)
            self.assertEqual(got, total, stalled_pf.stderr())
            self.assertEqual(digest.hexdigest(), hashlib.sha256(block * STALL_MB).hexdigest())
        finally:
            stalled.close()
            stalled_pf.close()
        FIGURES.append(f"port-forward through the hub beside a stalled stream: {beside:.0f} MB/s, alone "
                       f"{alone:.0f} MB/s, ratio {beside / alone:.2f}; the stalled connection took "
                       f"{stalled_at >> 20} MiB before stalling; hub RSS "
                       f"{(rss_after['hub'] - rss_before['hub']) / (1 << 20):+.1f} MiB, agent RSS "
                       f"{(rss_after['agent'] - rss_before['agent']) / (1 << 20):+.1f} MiB meanwhile")


class StreamsAcrossAPeerLinkTest(StreamsTestBase, FleetTestCase):
    """Two hubs with a peer link, the agent on hub-1: port-forward through hub-2; a grant
    without pods/portforward refuses it."""

    @classmethod
    def start_fleet(cls, fleet):
        p = fleet.start_platform()
        fleet.admit(["edge-a"])
        p.ctl("tenant", "create", "viewers")
        p.ctl("user", "create", "vera", "--tenant", "viewers")
        # Everything on pods but port-forward: exec and logs yes, pods/portforward no; and a
        # read-only grant on every subresource, which must not open streams either.
        p.ctl("grant", "create", "vera-pods", "--tenant", "viewers", "--clusters", "*", "--api-groups", "",
              "--resources", "pods,pods/log,pods/exec", "--verbs", "*")
        p.ctl("grant", "create", "vera-read", "--tenant", "viewers", "--clusters", "*", "--api-groups", "*",
              "--resources", "*", "--verbs", "get,list,watch")
        cls.vera_token = p.token("vera")
        fleet.start_hubs(2)
        fleet.start_agent("edge-a", fleet.hubs[0], connections=1)
        fleet.hubs[0].wait_discovered("edge-a")
        e2e.wait_until(lambda: "edge-a" in routes(fleet.hubs[1]), timeout=20, what="hub-2 routing edge-a")

    def home(self):
        return self.fleet.work.path

    def kubeconfig(self, hub, token, name):
        return e2e.write_kubeconfig(self.fleet.work.join(f"{name}.kubeconfig"), hub.cluster_url("edge-a"),
                                    self.fleet.pki.ca_cert, token=token)

    def test_port_forward_through_a_peer_link(self):
        kubeconfig = self.kubeconfig(self.hubs[1], self.fleet.token, "alice-hub-2")
        for version in ("1.27", "1.33"):
            with self.subTest(kubectl=version):
                self.forward_and_check(version, kubeconfig, "across a peer link")
        direct = e2e.write_kubeconfig(self.fleet.work.join("edge-a-direct.kubeconfig"), self.fleet.edges["edge-a"],
                                      self.fleet.pki.ca_cert, token=self.fleet.edge_token)
        self.assertEqual(self.refused_port("1.33", kubeconfig), self.refused_port("1.33", direct))

    def test_exec_and_pod_proxy_through_a_peer_link(self):
        kubeconfig = self.kubeconfig(self.hubs[1], self.fleet.token, "alice-hub-2-exec")
        data = "".join(f"line {i} across the peer link\n" for i in range(500))
        for version in VERSIONS:
            kubectl = kubectl_binary(version)
            if kubectl is None:
                continue
            with self.subTest(kubectl=version):
                r = subprocess.run([kubectl, "--kubeconfig", kubeconfig, "exec", "-i", "-n", "default", "web-1",
                                    "--", "cat"], input=data, capture_output=True, text=True, timeout=60,
                                   env={**os.environ, "HOME": self.home()})
                self.assertEqual((r.returncode, r.stdout), (0, data), r.stderr)
                # --raw paths are the whole path: the kubeconfig's /clusters/NAME prefix is not added.
                r = subprocess.run([kubectl, "--kubeconfig", kubeconfig, "get", "--raw",
                                    "/clusters/edge-a/api/v1/namespaces/default/pods/web-1:80/proxy/via/peer?q=1"],
                                   capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": self.home()})
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(json.loads(r.stdout)["path"], "/via/peer")
                self.assertEqual(json.loads(r.stdout)["query"], "q=1")

    def test_a_grant_without_pods_portforward_refuses_it(self):
        for hub in self.hubs:
            kubeconfig = self.kubeconfig(hub, self.vera_token, f"vera-{hub.name}")
            for version in ("1.27", "1.33"):
                kubectl = kubectl_binary(version)
                if kubectl is None:
                    continue
                with self.subTest(hub=hub.name, kubectl=version):
                    r = subprocess.run([kubectl, "--kubeconfig", kubeconfig, "port-forward", "-n", "default",
                                        "pod/web-1", ":80"], capture_output=True, text=True, timeout=60,
                                       env={**os.environ, "HOME": self.home()})
                    self.assertNotEqual(r.returncode, 0)
                    self.assertIn('pods/portforward "web-1" is forbidden: User "vera" cannot create resource '
                                  '"pods/portforward"', r.stderr)
                    # Exec is granted (create pods/exec), whichever way kubectl opens it.
                    out = subprocess.run([kubectl, "--kubeconfig", kubeconfig, "exec", "-n", "default", "web-1",
                                          "--", "echo", "granted"], capture_output=True, text=True, timeout=60,
                                         env={**os.environ, "HOME": self.home()})
                    self.assertEqual(out.stdout, "granted\n", out.stderr)


if __name__ == "__main__":
    unittest.main()
