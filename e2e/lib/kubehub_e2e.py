"""Shared harness for end-to-end tests: PKI generation with the openssl CLI, starting the real
binaries on port 0 and reading the address they bound, kubeconfigs, and running kubectl.

Every wait has a deadline; every process started is stopped by Cluster.close()/stop_all().
"""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

BIN_DIR = os.environ.get("KUBEHUB_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin"))
KUBECTL = os.environ.get("KUBECTL", shutil.which("kubectl") or "kubectl")
# Subject organisations the metaserver's CA puts into agents' and hubs' certificates
# (common/auth/tunnel_identity.h).
AGENT_ORGANIZATION = "kubehub:agents"
HUB_ORGANIZATION = "kubehub:hubs"


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

    def issue(self, name, cn, dns=(), ips=(), client=False, server=False, org=None):
        """Issues NAME.crt/NAME.key signed by this CA (subject O=ORG when given, CN=CN); returns
        (cert, key) paths."""
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
                  "-keyout", key, "-out", csr, "-subj", (f"/O={org}" if org else "") + f"/CN={cn}",
                  cwd=self.dir)
        self._serial += 1
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key,
                  "-set_serial", str(self._serial), "-days", "2", "-out", crt, "-extfile", ext,
                  cwd=self.dir)
        return crt, key

    def serving(self, name):
        return self.issue(name, name, dns=("localhost",), ips=("127.0.0.1",), server=True)

    def agent(self, name, cluster):
        """An agent's client certificate for CLUSTER, marked the way the metaserver's CA marks
        them (O=kubehub:agents, clientAuth only): hubs accept nothing else from agents."""
        return self.issue(name, cluster, client=True, org=AGENT_ORGANIZATION)


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
        handed_out(path, token)
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


def rss_bytes(pid):
    """The resident memory of process PID."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def metrics_text(admin):
    """The Prometheus text of http://ADMIN/metrics."""
    host, port = admin.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/metrics")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def metric_total(admin, name, labels=None):
    """The sum of metric `name` over its label sets on http://ADMIN/metrics, keeping only the
    series whose labels include `labels` (a dict); None when no series matches."""
    text = metrics_text(admin)
    total = None
    for m in re.finditer(rf"(?m)^{re.escape(name)}(?:\{{([^}}]*)\}})? (\S+)$", text):
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(have.get(k) == v for k, v in (labels or {}).items()):
            total = (total or 0) + float(m.group(2))
    return total


_PRIVATE_KEY_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
# A whole signed JWT (header, claims and a signature of some length): whoever issued it, a log
# line must never carry one. Forged tokens the security tests send end in a short signature.
_SIGNED_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{32,}")

# Secrets written into files by the helpers below (token files, kubeconfigs, bootstrap tokens),
# as (path, secret): Workdir.close looks for those written under its directory in every log.
_HANDED_OUT = set()


def handed_out(path, secret):
    """Records that `secret` was written to `path` (a file in some Workdir) for a component or
    client to use: the Workdir's logs must not contain it. Short strings (under 12 characters,
    such as the "wrong" token of a deliberately bad kubeconfig) are words a log may well hold,
    not secrets."""
    if secret and len(secret) >= 12:
        _HANDED_OUT.add((os.path.abspath(path), secret))


def leaked_secrets(directory, secrets):
    """Log files under `directory` that hold a PEM private key, a signed JWT or one of `secrets`:
    a list of (file, what) naming the secret by its first characters only."""
    found = []
    for root, _, files in os.walk(directory):
        for name in files:
            if not name.endswith(".log") and ".log." not in name:
                continue
            path = os.path.join(root, name)
            try:
                with open(path, errors="replace") as f:
                    text = f.read()
            except OSError:
                continue
            if _PRIVATE_KEY_PEM.search(text):
                found.append((os.path.relpath(path, directory), "a PEM private key"))
            if m := _SIGNED_JWT.search(text):
                found.append((os.path.relpath(path, directory), f"a signed JWT {m.group(0)[:12]}..."))
            for secret in secrets:
                if secret and secret in text:
                    found.append((os.path.relpath(path, directory), f"the secret {secret[:6]}..."))
    return found


class Workdir:
    """A temporary directory removed at close unless KUBEHUB_KEEP_TMP=1.

    Secrets the scenario handed out (tokens) go into `secrets`; close() fails if any
    component's log in the directory holds one of them or a PEM private key."""

    def __init__(self, prefix="kubehub-e2e-"):
        self.path = tempfile.mkdtemp(prefix=prefix)
        self.secrets = set()

    def join(self, *p):
        return os.path.join(self.path, *p)

    def close(self):
        root = os.path.abspath(self.path) + os.sep
        written_here = {secret for path, secret in _HANDED_OUT if path.startswith(root)}
        leaks = leaked_secrets(self.path, self.secrets | written_here)
        if os.environ.get("KUBEHUB_KEEP_TMP") != "1":
            shutil.rmtree(self.path, ignore_errors=True)
        if leaks:
            raise AssertionError("secrets in logs: " + "; ".join(f"{f}: {w}" for f, w in leaks))


def start_standin(work, pki, token, extra=(), name="standin"):
    """Starts the edge API server stand-in; returns (Process, 'https://127.0.0.1:PORT').

    A quiet edge unless `extra` says otherwise: the stand-in's kubelets renew no node Lease
    (`--node-lease-renew 0`; the stand-in's own default is a real kubelet's 10 s). Tests assert
    where an answer came from, and on an edge whose resourceVersion moves every few seconds a
    consistent read finds a quiet type's store behind and is forwarded (cache_test's
    `ChurningEdgeTest` covers that edge; the bench runs with the renewals on)."""
    crt, key = pki.serving(name)
    quiet = [] if any(str(a).startswith("--node-lease-renew") for a in extra) else ["--node-lease-renew", "0"]
    p = Process([binary("kubehub-standin"), "--listen", "127.0.0.1:0", "--tls-cert", crt,
                 "--tls-key", key, "--token", token, *quiet, *extra],
                ready=r"listening address=(\S+)", log_path=work.join(f"{name}.log"))
    return p, "https://" + p.match.group(1)


def write_token_file(path, entries):
    """entries: [(token, user, uid, [groups])] in kube-apiserver's static token CSV format."""
    with open(path, "w") as f:
        for token, user, uid, groups in entries:
            handed_out(path, token)
            f.write(f'{token},{user},{uid},"{",".join(groups)}"\n')
    return path


class Hub:
    """A running kubehub-hub with its three listeners.

    `log_name` names the log file (default: `name`), so that a hub restarted under the same id
    gets a log of its own; `hub_certificate` serves with a certificate marked as a hub's
    (O=kubehub:hubs, CN = the hub id), as the metaserver's CA issues them. `prefix` wraps the
    command (prlimit)."""

    def __init__(self, work, pki, token_file, name="hub", extra=(), log_name=None,
                 hub_certificate=False, prefix=()):
        if hub_certificate:
            crt, key = pki.issue(name, name, dns=("localhost",), ips=("127.0.0.1",), server=True,
                                 org=HUB_ORGANIZATION)
        else:
            crt, key = pki.serving(name)
        self.name = name
        self.proc = Process([*prefix, binary("kubehub-hub"), "--listen", "127.0.0.1:0",
                             "--tunnel-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                             "--tls-cert", crt, "--tls-key", key, "--agent-ca", pki.ca_cert,
                             "--token-file", token_file, "--hub-id", name, *extra],
                            ready=r"hub started", log_path=work.join(f"{log_name or name}.log"))
        text = self.proc.log_text()
        self.users = re.search(r"users listening\" address=(\S+)", text).group(1)
        self.tunnel = re.search(r"tunnel listening\" address=(\S+)", text).group(1)
        self.admin = re.search(r"admin listening\" address=(\S+)", text).group(1)

    def cluster_url(self, cluster):
        return f"https://{self.users}/clusters/{cluster}"

    def wait_discovered(self, cluster, timeout=30, start=0):
        return self.proc.wait_for_log(rf"discovery received\" cluster={cluster}\b", timeout, start)


def hub_peer_certificate(platform, name, token_file):
    """A hub certificate for peer links (O=kubehub:hubs, CN=name) from the metaserver's CA, asked
    for with the hub's own token as an operator would: key and CSR made here."""
    key = platform.work.join(f"{name}-peer.key")
    csr = platform.work.join(f"{name}-peer.csr")
    crt = platform.work.join(f"{name}-peer.crt")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", csr, "-subj", f"/CN={name}"], check=True, capture_output=True)
    with open(token_file) as f:
        token = f.read().strip()
    out = platform.ctl("hub", "certificate", name, "--csr", csr, token=token).stdout
    with open(crt, "w") as f:
        f.write(out)
    return crt, key


def start_metaserver_hub(work, pki, platform, name, agent_ca, extra=(), prefix=(), peer=False,
                         token_file=None):
    """A hub whose users come from `platform`'s metaserver, under its own hub user (named like its
    --hub-id: a hub's token acts for its own hub only), ready once keys, grants and clusters
    arrived. `extra` may override --listen and --audit-log; `prefix` wraps the command (prlimit).
    `peer`: it takes peer links (a hub certificate from the metaserver's CA) and so routes to and
    serves for the fleet's other hubs; "enrol": the hub enrols that certificate itself.
    `agent_ca` None: the hub trusts the metaserver's tunnel CA (fetched). `token_file`: a hub
    token of another user (a fleet's). Returns a Hub; the caller stops hub.proc."""
    crt, key = pki.serving(name)
    token_file = token_file or platform.hub_token_file(name)
    args = [*prefix, binary("kubehub-hub"), "--tunnel-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
            "--tls-cert", crt, "--tls-key", key, "--hub-id", name,
            "--metaserver-url", platform.url, "--metaserver-token-file", token_file,
            "--metaserver-ca", pki.ca_cert, *extra]
    if agent_ca:
        args += ["--agent-ca", agent_ca]
    if peer == "enrol":
        args += ["--peer-listen", "127.0.0.1:0"]
    elif peer:
        peer_crt, peer_key = hub_peer_certificate(platform, name, token_file)
        args += ["--peer-listen", "127.0.0.1:0", "--peer-tls-cert", peer_crt, "--peer-tls-key", peer_key]
    if "--listen" not in extra:
        args += ["--listen", "127.0.0.1:0"]
    if "--audit-log" not in extra:
        args += ["--audit-log", ""]
    hub = Hub.__new__(Hub)
    hub.name = name
    hub.proc = Process(args, ready=r"hub started", log_path=work.join(f"{name}.log"))
    text = hub.proc.log_text()
    hub.users = re.search(r"users listening\" address=(\S+)", text).group(1)
    hub.tunnel = re.search(r"tunnel listening\" address=(\S+)", text).group(1)
    hub.admin = re.search(r"admin listening\" address=(\S+)", text).group(1)
    found = re.search(r"peers listening\" address=(\S+)", text)
    hub.peer = found.group(1) if found else None

    def ready():
        conn = http.client.HTTPConnection(*hub.admin.rsplit(":", 1), timeout=5)
        try:
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()
    try:
        wait_until(ready, timeout=30, what=f"{name} ready")
    except BaseException:
        hub.proc.kill()
        raise
    return hub


def print_logs(work, names, tail=3000):
    """The end of each component's log, to stderr: for a failed test's report."""
    for name in names:
        path = work.join(name)
        if os.path.exists(path):
            print(f"----- {name} (last {tail} bytes)", file=sys.stderr)
            with open(path, errors="replace") as f:
                print(f.read()[-tail:], file=sys.stderr)


def tunnel_url(hub):
    """The tunnel URL of a Hub (a string is taken as a URL already)."""
    return hub if isinstance(hub, str) else f"wss://{hub.tunnel}/tunnel"


class Agent:
    """A running kubehub-agent for one cluster, pointed at an API server by kubeconfig (None: no
    --kubeconfig, as for an agent in --mode native).

    `hub` is a Hub or a URL, or a list of them (passed as one comma-separated --hub-url).
    `certificate`: a (cert, key) pair issued elsewhere (the metaserver's CA) instead of one
    from `pki`; `timeout`: how long each start may take to bring a tunnel up."""

    def __init__(self, work, pki, cluster, hub, api_kubeconfig, name=None, extra=(),
                 certificate=None, timeout=30):
        name = name or f"agent-{cluster}"
        crt, key = certificate or pki.agent(name, cluster)
        hubs = hub if isinstance(hub, (list, tuple)) else [hub]
        self.args = [binary("kubehub-agent"), "--hub-url", ",".join(tunnel_url(h) for h in hubs),
                     "--tls-cert", crt, "--tls-key", key, "--hub-ca", pki.ca_cert,
                     *(["--kubeconfig", api_kubeconfig] if api_kubeconfig else []),
                     "--admin-listen", "127.0.0.1:0",
                     "--backoff-base", "100ms", "--backoff-max", "1s", *extra]
        self.work = work
        self.name = name
        self.timeout = timeout
        self.proc = None
        self.start()

    def start(self):
        self.proc = Process(self.args, ready=r"tunnel up", log_path=self.work.join(f"{self.name}.log"),
                            timeout=self.timeout)
        return self

    def admin(self):
        """HOST:PORT of the agent's admin endpoint (/metrics, /readyz)."""
        return re.search(r'admin listening" address=(\S+)', self.proc.log_text()).group(1)

    def metric(self, name):
        """The value of an unlabelled metric on the agent's /metrics, or None."""
        text = metrics_text(self.admin())
        m = re.search(rf"(?m)^{re.escape(name)} (\S+)$", text)
        return float(m.group(1)) if m else None


def https_json(url, token=None, ca_file=None, method="GET", body=None, headers=None, timeout=30):
    """One HTTPS request with the standard library; returns (status, parsed JSON or text).

    For test-only endpoints such as the stand-in's /standin/compact and /standin/requests.
    """
    import ssl
    import urllib.error
    import urllib.request
    ctx = ssl.create_default_context(cafile=ca_file)
    data = None
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode(errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def standin_requests(base_url, token, ca_file):
    """The last request heads the stand-in received (Authorization redacted)."""
    status, body = https_json(base_url + "/standin/requests", token, ca_file)
    if status != 200:
        raise AssertionError(f"/standin/requests answered {status}: {body}")
    return body


def standin_compact(base_url, token, ca_file):
    """Drops the stand-in's event window: older resourceVersions get 410 Gone from now on."""
    status, body = https_json(base_url + "/standin/compact", token, ca_file, method="POST")
    if status != 200:
        raise AssertionError(f"/standin/compact answered {status}: {body}")
    return body


# ---- PostgreSQL and the metaserver ----

PGBIN = os.environ.get("KUBEHUB_PGBIN", "/usr/lib/postgresql/15/bin")
_pg_template = None  # one initdb per test process; each Postgres copies it
_pg_template_lock = threading.Lock()


def _as_postgres(args):
    """Runs PostgreSQL tools as the unprivileged `postgres` user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return list(args)


def _chown_postgres(path):
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres:", path], check=True)


def _pg_template_dir():
    global _pg_template
    with _pg_template_lock:
        if _pg_template is None:
            base = tempfile.mkdtemp(prefix="kubehub-pgtemplate-")
            os.chmod(base, 0o755)
            _chown_postgres(base)
            subprocess.run(_as_postgres([os.path.join(PGBIN, "initdb"), "-D", os.path.join(base, "data"),
                                         "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8",
                                         "--no-sync"]), check=True, capture_output=True, timeout=120)
            import atexit
            atexit.register(shutil.rmtree, base, True)
            _pg_template = os.path.join(base, "data")
        return _pg_template


class Postgres:
    """A throwaway PostgreSQL 15 on a unix socket in its own temporary directory.

    initdb runs once per test process; each instance copies that data directory. Always call
    close() (it stops the server even when a test failed)."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="kubehub-pg-")
        os.chmod(self.base, 0o755)
        self.data = os.path.join(self.base, "data")
        shutil.copytree(_pg_template_dir(), self.data)
        _chown_postgres(self.base)
        self.log = os.path.join(self.base, "postgres.log")
        try:
            self.start()
        except BaseException:
            shutil.rmtree(self.base, ignore_errors=True)
            raise

    @property
    def conninfo(self):
        return f"host={self.base} user=postgres dbname=postgres"

    def start(self):
        subprocess.run(_as_postgres([
            os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-l", self.log, "-w", "-t", "30",
            "-o", f"-k {self.base} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
                  f"-c full_page_writes=off -c max_connections=200", "start"]),
            check=True, capture_output=True, timeout=60)

    def stop(self, mode="fast"):
        """Stops the server (`pg_ctl -w` returns once it has stopped); fine if it is not running."""
        subprocess.run(_as_postgres([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w",
                                     "-t", "30", "stop"]), capture_output=True, timeout=60)

    def psql(self, sql):
        r = subprocess.run(_as_postgres([os.path.join(PGBIN, "psql"), "-h", self.base, "-U", "postgres",
                                         "-d", "postgres", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]),
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"psql failed: {r.stderr}")
        return r.stdout.strip()

    def close(self):
        self.stop("immediate")
        if os.environ.get("KUBEHUB_KEEP_TMP") != "1":
            shutil.rmtree(self.base, ignore_errors=True)


class Metaserver:
    """A running kubehub-metaserver on port 0 (REST API + admin), HTTPS with `pki` or plain HTTP."""

    def __init__(self, work, database_url, name="metaserver", pki=None, admin_token=None, extra=(),
                 wait=True):
        self.work = work
        self.name = name
        self.pki = pki
        args = [binary("kubehub-metaserver"), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                "--database-url", database_url]
        if pki:
            crt, key = pki.serving(name)
            args += ["--tls-cert", crt, "--tls-key", key]
        else:
            args += ["--insecure-http"]
        if admin_token:
            path = work.join(f"{name}-admin-token")
            with open(path, "w") as f:
                f.write(admin_token + "\n")
            args += ["--admin-token-file", path]
        self.args = args + list(extra)
        self.proc = Process(self.args, ready=r"metaserver started" if wait else None,
                            log_path=work.join(f"{name}.log"))
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=30):
        self.proc.wait_for_log(r"metaserver started", timeout)
        text = self.proc.log_text()
        self.api = re.search(r'msg="api listening" address=(\S+)', text).group(1)
        self.admin = re.search(r'msg="admin listening" address=(\S+)', text).group(1)
        self.url = ("https://" if self.pki else "http://") + self.api

    def request(self, method, path, body=None, token=None, headers=None, raw=None, timeout=30,
                server="api"):
        """One request; returns (status, headers dict, body bytes). `body` is sent as JSON,
        `raw` as is."""
        import http.client
        import ssl
        host, port = (self.api if server == "api" else self.admin).rsplit(":", 1)
        if self.pki and server == "api":
            ctx = ssl.create_default_context(cafile=self.pki.ca_cert)
            conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=timeout)
        else:
            conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            out = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, out
        finally:
            conn.close()

    def json(self, method, path, body=None, token=None, expect=None, **kw):
        """request() that decodes a JSON answer and optionally checks the status."""
        status, headers, data = self.request(method, path, body=body, token=token, **kw)
        decoded = json.loads(data) if data.strip() and headers.get("content-type", "").startswith(
            "application/json") else data
        if expect is not None and status != expect:
            raise AssertionError(f"{method} {path}: expected {expect}, got {status}: {data[:500]!r}")
        return status, decoded

    def stop(self):
        self.proc.stop()


def free_port():
    """A TCP port that was free a moment ago (for servers whose URL must be known in advance)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Platform:
    """PostgreSQL + metaserver (HTTPS) + an admin token, with kubehubctl at hand.

    `hub_url` is what the metaserver writes into kubeconfigs."""

    def __init__(self, work, pki, hub_url=None, extra=()):
        self.work = work
        self.pki = pki
        self.admin_token = "admin-" + os.urandom(16).hex()
        work.secrets.add(self.admin_token)
        self.pg = Postgres()
        try:
            args = list(extra)
            if hub_url:
                args += ["--hub-url", hub_url, "--hub-ca-file", pki.ca_cert]
            self.meta = Metaserver(work, self.pg.conninfo, pki=pki, admin_token=self.admin_token, extra=args)
        except BaseException:
            self.pg.close()
            raise
        self.url = self.meta.url

    def ctl(self, *args, token=None, check=True, input=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBEHUB_")}
        env.update({"KUBEHUB_SERVER": self.url, "KUBEHUB_TOKEN": token or self.admin_token,
                    "KUBEHUB_CA_FILE": self.pki.ca_cert})
        r = subprocess.run([binary("kubehubctl"), *args], capture_output=True, text=True, env=env,
                           timeout=60, input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"kubehubctl {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def ctl_json(self, *args, token=None):
        return json.loads(self.ctl(*args, "-o", "json", token=token).stdout)

    def token(self, user, ttl="1h"):
        out = self.ctl_json("token", "issue", "--user", user, "--ttl", ttl)
        token = out.get("token") or out.get("secret")
        self.work.secrets.add(token)
        return token

    def hub_token_file(self, hub_user="hub-1", tenant="platform"):
        """A user with the hub role and a file holding its token (for --metaserver-token-file).
        The hub using it must be started with --hub-id `hub_user`: a hub's token acts only for
        the hub named like its user."""
        self.ctl("tenant", "create", tenant, check=False)
        self.ctl("user", "create", hub_user, "--tenant", tenant, "--roles", "hub")
        path = self.work.join(f"{hub_user}.token")
        with open(path, "w") as f:
            f.write(self.token(hub_user, ttl="24h") + "\n")
        return path

    def ca_file(self):
        path = self.work.join("metaserver-ca.crt")
        self.ctl("ca", "get", "--output", "table", check=True)
        with open(path, "w") as f:
            f.write(self.ctl("ca", "get").stdout)
        return path

    def agent_certificate(self, cluster, name=None):
        """The onboarding flow: bootstrap token, a key and CSR made here, certificate from the CA."""
        name = name or f"agent-{cluster}"
        boot = self.ctl_json("cluster", "bootstrap", cluster)
        token = boot.get("token") or boot.get("bootstrapToken")
        self.work.secrets.add(token)
        key = self.work.join(f"{name}.key")
        csr = self.work.join(f"{name}.csr")
        crt = self.work.join(f"{name}.crt")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", csr, "-subj", f"/CN={cluster}"], check=True, capture_output=True)
        out = self.ctl("cluster", "certificate", cluster, "--csr", csr, token=token).stdout
        with open(crt, "w") as f:
            f.write(out)
        return crt, key

    def close(self):
        try:
            self.meta.stop()
        finally:
            self.pg.close()


class ConnectionFlood:
    """Floods a hub's users' endpoint (`users`, "host:port") as from many machines: `idle` TLS
    connections that send nothing, opened by eight threads from 127.0.N.M (250 per address, each
    under the per-client limit), and `slowloris` connections from 127.0.0.200 that send a
    request line, then one header byte a second, never the end. start() returns once every idle
    connection was tried; close() ends them all. `opened_seconds`, `idle`, `errors` say how it
    went; `opened_idle` counts the idle connections open when start() returned and
    `held_slowloris` the slowloris ones still open when close() began."""

    def __init__(self, users, ca_file, path, idle=10000, slowloris=300):
        self.host, port = users.rsplit(":", 1)
        self.port = int(port)
        self.ca_file = ca_file
        self.path = path
        self.want_idle = idle
        self.want_slowloris = slowloris
        self.idle, self.slow, self.errors = [], [], []
        self.opened_seconds = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._trickler = None

    def tls(self, source, timeout=30):
        import socket
        import ssl
        ctx = ssl.create_default_context(cafile=self.ca_file)
        raw = socket.create_connection((self.host, self.port), timeout=timeout, source_address=(source, 0))
        return ctx.wrap_socket(raw, server_hostname=self.host)

    def _keep(self, where, conn):
        """Keeps `conn` in `where` unless the flood is closing (then closes it); False then."""
        with self._lock:
            if not self._stop.is_set():
                where.append(conn)
                return True
        conn.close()
        return False

    def _failed(self, what):
        """Notes a failed connect; True once 50 of this kind (idle or slowloris) failed."""
        with self._lock:
            self.errors.append(what)
            kind = what.split(":", 1)[0]
            return sum(1 for e in self.errors if e.startswith(kind + ":")) > 50

    def _trickle(self):
        for _ in range(self.want_slowloris):
            if self._stop.is_set():
                return
            try:
                c = self.tls("127.0.0.200")
                c.sendall(f"GET {self.path} HTTP/1.1\r\nHost: hub\r\n".encode())
                if not self._keep(self.slow, c):
                    return
            except OSError as e:
                if self._failed(f"slowloris connect: {e}"):
                    break  # trickle on what did open
        while not self._stop.wait(1.0):
            with self._lock:
                slow = list(self.slow)
            for c in slow:
                try:
                    c.sendall(b"x")
                except OSError:
                    with self._lock:
                        if c in self.slow:
                            self.slow.remove(c)

    def _open_idle(self, indexes):
        for i in indexes:
            if self._stop.is_set():
                return
            source = f"127.0.{1 + i // 500}.{1 + (i // 250) % 2 + 10}"  # 250 per address
            try:
                if not self._keep(self.idle, self.tls(source)):
                    return
            except OSError as e:
                if self._failed(f"idle connect: {e}"):
                    return

    def start(self):
        """Opens the flood; raises the soft descriptor limit to the hard one first (the flood
        needs one descriptor per connection here as well)."""
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = self.want_idle + self.want_slowloris + 256
        if soft < need:
            want = need if hard == resource.RLIM_INFINITY else min(need, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
            if want < need:
                print(f"ConnectionFlood: the descriptor limit ({hard}) is below the {need} the flood needs: "
                      "expect failed connects", file=sys.stderr)
        self._trickler = threading.Thread(target=self._trickle, daemon=True)
        self._trickler.start()
        started = time.monotonic()
        self._openers = [threading.Thread(target=self._open_idle, args=(range(k, self.want_idle, 8),), daemon=True)
                         for k in range(8)]
        for t in self._openers:
            t.start()
        for t in self._openers:
            t.join()
        self.opened_seconds = time.monotonic() - started
        with self._lock:
            self.opened_idle = len(self.idle)
        return self

    def close(self):
        self._stop.set()
        for t in [self._trickler, *getattr(self, "_openers", [])]:
            if t:
                t.join()
        with self._lock:
            self.held_slowloris = len(self.slow)
            conns, self.slow, self.idle = self.slow + self.idle, [], []
        for c in conns:
            try:
                c.close()
            except OSError:
                pass

def fresh_connection_gets(users, ca_file, path, token, count, source="127.0.0.1"):
    """`count` GETs of `path` at the users' endpoint `users` ("host:port"), each on a new TLS
    connection as a new kubectl's (TCP_NODELAY, as Go sets it: without it the request waits
    for the server's delayed ACK of the handshake's last flight, ~40 ms); returns
    [(seconds, status line)]."""
    import socket
    import ssl
    host, port = users.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=ca_file)
    out = []
    for _ in range(count):
        started = time.monotonic()
        raw = socket.create_connection((host, int(port)), timeout=30, source_address=(source, 0))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = ctx.wrap_socket(raw, server_hostname=host)
        try:
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {token}\r\n"
                         f"Connection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            conn.close()
        out.append((time.monotonic() - started, data.split(b"\r\n", 1)[0].decode(errors="replace")))
    return out
