"""Shared harness for end-to-end tests: PKI generation with the openssl CLI, starting the real
binaries on port 0 and reading the address they bound, kubeconfigs, and running kubectl.

Every wait has a deadline; every process started is stopped by Cluster.close()/stop_all().
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

BIN_DIR = os.environ.get("KUBEHUB_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin"))
KUBECTL = os.environ.get("KUBECTL", shutil.which("kubectl") or "kubectl")


def binary(name):
    path = os.path.join(BIN_DIR, name)
    if not os.path.exists(path):
        raise RuntimeError(f"{path} does not exist: build first (make build)")
    return path


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Pki:
    """A throwaway CA plus leaf certificates, all ECDSA P-256, in one directory."""

    def __init__(self, directory, name="kubehub-test-ca"):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_cert = os.path.join(directory, f"{name}.crt")
        self.ca_key = os.path.join(directory, f"{name}.key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", self.ca_key, "-out", self.ca_cert, "-days", "2", "-subj", f"/CN={name}",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
        self._serial = 1

    def issue(self, name, cn, dns=(), ips=(), client=False, server=False):
        """Issues NAME.crt/NAME.key signed by this CA; returns (cert, key) paths."""
        key = os.path.join(self.dir, f"{name}.key")
        csr = os.path.join(self.dir, f"{name}.csr")
        crt = os.path.join(self.dir, f"{name}.crt")
        ext = os.path.join(self.dir, f"{name}.ext")
        usages = []
        if server:
            usages.append("serverAuth")
        if client:
            usages.append("clientAuth")
        lines = ["basicConstraints=critical,CA:FALSE",
                 "keyUsage=critical,digitalSignature,keyEncipherment"]
        if usages:
            lines.append("extendedKeyUsage=" + ",".join(usages))
        sans = [f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        with open(ext, "w") as f:
            f.write("\n".join(lines) + "\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", csr, "-subj", f"/CN={cn}", cwd=self.dir)
        self._serial += 1
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key,
                  "-set_serial", str(self._serial), "-days", "2", "-out", crt, "-extfile", ext,
                  cwd=self.dir)
        return crt, key

    def serving(self, name):
        return self.issue(name, name, dns=("localhost",), ips=("127.0.0.1",), server=True)


class Process:
    """A started binary; waits for a log line that matches `ready` and captures its groups."""

    def __init__(self, args, ready, log_path, env=None, timeout=30):
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, start_new_session=True)
        self.match = None
        if ready:
            self.match = self.wait_for_log(ready, timeout)

    def wait_for_log(self, pattern, timeout=30, start=0):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                text = f.read().decode(errors="replace")
            m = rx.search(text, start)
            if m:
                return m
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.args[0]} exited with {self.proc.returncode} before "
                                   f"logging /{pattern}/; log:\n{text[-4000:]}")
            time.sleep(0.02)
        raise TimeoutError(f"{self.args[0]} did not log /{pattern}/ within {timeout}s; log:\n"
                           f"{open(self.log_path, 'rb').read().decode(errors='replace')[-4000:]}")

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()

    def stop(self):
        self.kill(signal.SIGTERM)


def write_kubeconfig(path, server, ca_file, token=None, cert=None, key=None, cluster="kubehub",
                     namespace=None):
    with open(ca_file, "rb") as f:
        import base64
        ca_data = base64.b64encode(f.read()).decode()
    user = {}
    if token:
        user["token"] = token
    if cert:
        user["client-certificate"] = cert
        user["client-key"] = key
    context = {"cluster": cluster, "user": "user"}
    if namespace:
        context["namespace"] = namespace
    cfg = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "ctx", "context": context}],
        "current-context": "ctx",
    }
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)  # JSON is valid YAML; kubectl reads it as is
    return path


def kubectl(kubeconfig, *args, timeout=60, check=True, input=None):
    """Runs kubectl; returns CompletedProcess with text stdout/stderr."""
    cmd = [KUBECTL, "--kubeconfig", kubeconfig, "--request-timeout=30s", *args]
    env = {**os.environ, "HOME": os.path.dirname(kubeconfig), "KUBECACHEDIR": os.path.join(os.path.dirname(kubeconfig), "kcache")}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def wait_until(predicate, timeout=20, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - keep polling until the deadline
            last = e
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}; last: {last!r}")


class Workdir:
    """A temporary directory removed at close unless KUBEHUB_KEEP_TMP=1."""

    def __init__(self, prefix="kubehub-e2e-"):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def join(self, *p):
        return os.path.join(self.path, *p)

    def close(self):
        if os.environ.get("KUBEHUB_KEEP_TMP") != "1":
            shutil.rmtree(self.path, ignore_errors=True)


def start_standin(work, pki, token, extra=()):
    """Starts the edge API server stand-in; returns (Process, 'https://127.0.0.1:PORT')."""
    crt, key = pki.serving("standin")
    p = Process([binary("kubehub-standin"), "--listen", "127.0.0.1:0", "--tls-cert", crt,
                 "--tls-key", key, "--token", token, *extra],
                ready=r"listening address=(\S+)", log_path=work.join("standin.log"))
    return p, "https://" + p.match.group(1)
