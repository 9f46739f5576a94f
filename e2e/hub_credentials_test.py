"""The hub's certificates rotate while it runs, without dropping anything.

RotationTest: the users' and the tunnel listeners' files are mounted the way the kubelet mounts
a Secret (files are links through `..data`, swapped atomically on update). After an update new
connections get the new certificate, connections and the agent's tunnel already open keep
theirs, and files that do not make a certificate (a key that does not match) keep the old one
in force and say so in a metric.

EnrolmentTest: two hubs of one fleet share one metaserver token (user `edgefleet`, hubs
`edgefleet-a`/`-b`), are given neither peer certificates nor the agents' CA: they fetch the CA
and enrol their own peer certificates, which live 20 s and so are renewed during the test while
reads go through a peer hop without one failing."""
import http.client
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
from fleet import Fleet, ReadLoop, admin_get, metric  # noqa: E402


class SecretVolume:
    """A directory laid out like a Secret volume: NAME -> ..data/NAME, ..data -> ..<stamp>/."""

    def __init__(self, path):
        self.path = path
        os.makedirs(path, exist_ok=True)
        self._n = 0

    def file(self, name):
        return os.path.join(self.path, name)

    def update(self, files):
        """Writes `files` ({name: bytes}) as the kubelet does: a new timestamped directory, then
        one atomic rename of the `..data` link."""
        self._n += 1
        stamp = f"..{self._n:04d}"
        os.makedirs(os.path.join(self.path, stamp))
        for name, data in files.items():
            with open(os.path.join(self.path, stamp, name), "wb") as f:
                f.write(data)
            link = os.path.join(self.path, name)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", name), link)
        tmp = os.path.join(self.path, "..data_tmp")
        os.symlink(stamp, tmp)
        os.replace(tmp, os.path.join(self.path, "..data"))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def der(pem_path):
    return ssl.PEM_cert_to_DER_cert(read(pem_path).decode())


def presented(address, ca_file, client=None):
    """DER of the certificate a TLS server at HOST:PORT presents."""
    host, port = address.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.check_hostname = False
    if client:
        ctx.load_cert_chain(*client)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            return s.getpeercert(binary_form=True)


class RotationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workdir()
        cls.procs = []
        try:
            cls.pki = e2e.Pki(cls.work.join("pki"))
            edge_token = "edge-" + os.urandom(8).hex()
            standin, edge = e2e.start_standin(cls.work, cls.pki, edge_token)
            cls.procs.append(standin)
            cls.user_token = "user-" + os.urandom(8).hex()
            tokens = e2e.write_token_file(cls.work.join("tokens.csv"),
                                          [(cls.user_token, "alice", "1", ["system:masters"])])
            cls.users_vol = SecretVolume(cls.work.join("users-tls"))
            cls.tunnel_vol = SecretVolume(cls.work.join("tunnel-tls"))
            cls.users_vol.update(cls.issue("users-1"))
            cls.tunnel_vol.update(cls.issue("tunnel-1"))
            cls.hub = e2e.Hub(cls.work, cls.pki, tokens, extra=[
                "--tls-cert", cls.users_vol.file("tls.crt"), "--tls-key", cls.users_vol.file("tls.key"),
                "--tunnel-tls-cert", cls.tunnel_vol.file("tls.crt"),
                "--tunnel-tls-key", cls.tunnel_vol.file("tls.key"),
                "--tls-reload-interval", "100ms"])
            cls.procs.append(cls.hub.proc)
            kubeconfig = e2e.write_kubeconfig(cls.work.join("edge.kubeconfig"), edge, cls.pki.ca_cert,
                                              token=edge_token)
            cls.agent = e2e.Agent(cls.work, cls.pki, "edge", cls.hub, kubeconfig)
            cls.procs.append(cls.agent.proc)
            cls.hub.wait_discovered("edge")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.procs):
            p.kill()
        if getattr(cls, "failed", False):
            e2e.print_logs(cls.work, ["hub.log", "agent-edge.log"])
        cls.work.close()

    def run(self, result=None):
        result = super().run(result)
        if result and not result.wasSuccessful():
            type(self).failed = True
        return result

    @classmethod
    def issue(cls, name):
        crt, key = cls.pki.serving(name)
        return {"tls.crt": read(crt), "tls.key": read(key)}

    def connection(self):
        host, port = self.hub.users.rsplit(":", 1)
        return http.client.HTTPSConnection(host, int(port), timeout=20,
                                           context=ssl.create_default_context(cafile=self.pki.ca_cert))

    def get(self, conn, path="/clusters/edge/api/v1/namespaces"):
        conn.request("GET", path, headers={"Authorization": f"Bearer {self.user_token}"})
        r = conn.getresponse()
        r.read()
        return r.status

    def metric(self, name, **labels):
        return metric(self.hub, name, **labels)

    def wait_generation(self, source, n):
        e2e.wait_until(lambda: self.metric("kubehub_hub_certificate_generation", source=source) == n,
                       timeout=15, what=f"{source} certificate generation {n}")

    def test_1_users_certificate_rotates_and_open_connections_keep_theirs(self):
        before = self.metric("kubehub_hub_certificate_generation", source="users")
        tunnels_before = self.metric("kubehub_hub_tunnel_up_total")
        old = self.connection()
        self.assertEqual(self.get(old), 200)
        old_der = old.sock.getpeercert(binary_form=True)
        self.assertEqual(old_der, der(self.users_vol.file("tls.crt")))

        new_files = self.issue("users-2")
        self.users_vol.update(new_files)
        self.wait_generation("users", before + 1)

        fresh = self.connection()
        self.assertEqual(self.get(fresh), 200)
        self.assertEqual(fresh.sock.getpeercert(binary_form=True),
                         ssl.PEM_cert_to_DER_cert(new_files["tls.crt"].decode()),
                         "a connection made after the update got the old certificate")
        # The keep-alive connection from before goes on, with the certificate it started with.
        self.assertEqual(self.get(old), 200)
        self.assertEqual(old.sock.getpeercert(binary_form=True), old_der)
        old.close()
        fresh.close()
        self.assertEqual(self.metric("kubehub_hub_tunnel_up_total"), tunnels_before,
                         "the agent's tunnel was dropped")
        self.assertEqual(self.metric("kubehub_hub_tls_reloads_total", source="users", result="ok"), 1)
        crt = read(self.users_vol.file("tls.crt")).decode()
        not_after = subprocess.run(["openssl", "x509", "-noout", "-enddate"], input=crt, text=True,
                                   capture_output=True, check=True).stdout
        expected = time.mktime(time.strptime(not_after.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y %Z"))
        got = self.metric("kubehub_hub_certificate_expiry_timestamp_seconds", source="users")
        self.assertAlmostEqual(got, expected - time.timezone, delta=2)

    def test_2_tunnel_certificate_rotates_without_dropping_the_tunnel(self):
        before = self.metric("kubehub_hub_certificate_generation", source="tunnel")
        tunnels_before = self.metric("kubehub_hub_tunnel_up_total")
        new_files = self.issue("tunnel-2")
        self.tunnel_vol.update(new_files)
        self.wait_generation("tunnel", before + 1)
        client = self.pki.agent("probe-agent", "probe")
        self.assertEqual(presented(self.hub.tunnel, self.pki.ca_cert, client),
                         ssl.PEM_cert_to_DER_cert(new_files["tls.crt"].decode()))
        # Requests still go through the tunnel that was up before the rotation.
        conn = self.connection()
        self.assertEqual(self.get(conn, "/clusters/edge/api/v1/namespaces/default/configmaps"), 200)
        conn.close()
        self.assertEqual(self.metric("kubehub_hub_tunnel_up_total"), tunnels_before)
        self.assertEqual(self.agent.metric("kubehub_agent_tunnel_connects_total"), 1.0,
                         "the agent dialed again")

    def test_3_unusable_files_keep_the_certificate_in_force(self):
        in_force = der(self.users_vol.file("tls.crt"))
        generation = self.metric("kubehub_hub_certificate_generation", source="users")
        errors = self.metric("kubehub_hub_tls_reloads_total", source="users", result="error")
        other = self.issue("users-3")
        mismatched = self.issue("users-4")
        self.users_vol.update({"tls.crt": other["tls.crt"], "tls.key": mismatched["tls.key"]})
        e2e.wait_until(lambda: self.metric("kubehub_hub_tls_reloads_total", source="users",
                                           result="error") == errors + 1,
                       timeout=15, what="the failed reload counted")
        self.assertEqual(presented(self.hub.users, self.pki.ca_cert), in_force)
        self.assertEqual(self.metric("kubehub_hub_certificate_generation", source="users"), generation)
        self.assertRegex(self.hub.proc.log_text(), r"do not make a usable certificate.*source=users")
        # Once the pair is whole again it is taken.
        self.users_vol.update(other)
        self.wait_generation("users", generation + 1)
        self.assertEqual(presented(self.hub.users, self.pki.ca_cert),
                         ssl.PEM_cert_to_DER_cert(other["tls.crt"].decode()))


class EnrolmentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fleet = Fleet()
        try:
            f = cls.fleet
            f._logs.append("metaserver.log")
            f.platform = e2e.Platform(f.work, f.pki, extra=["--hub-cert-ttl", "20s"])
            f.agent_ca = f.platform.ca_file()
            f.admit(["edge-1"])
            cls.token_file = f.platform.hub_token_file("edgefleet")
            cls.hubs = []
            for name in ("edgefleet-a", "edgefleet-b"):
                f._logs.append(f"{name}.log")
                hub = e2e.start_metaserver_hub(f.work, f.pki, f.platform, name, None, peer="enrol",
                                               token_file=cls.token_file)
                f._procs.append(hub.proc)
                f.hubs.append(hub)
                cls.hubs.append(hub)
            # The agent's certificate comes from the metaserver's CA, which the hubs fetched.
            f.start_agent("edge-1", cls.hubs[0])
            e2e.wait_until(lambda: admin_get(cls.hubs[1], "/debug/peers")[1].count("edgefleet-a") > 0,
                           timeout=15, what="hub b routes edge-1 to hub a")
        except BaseException:
            cls.fleet.failed = True
            cls.fleet.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.fleet.close()

    def run(self, result=None):
        result = super().run(result)
        if result and not result.wasSuccessful():
            self.fleet.failed = True
        return result

    def test_fleet_token_registers_every_replica(self):
        hubs = self.fleet.platform.ctl_json("hub", "list")
        items = hubs.get("items", hubs) if isinstance(hubs, dict) else hubs
        names = sorted(h.get("name") or h.get("id") for h in items)
        self.assertEqual(names, ["edgefleet-a", "edgefleet-b"])

    def test_hub_outside_the_fleet_refuses_to_start(self):
        f = self.fleet
        crt, key = f.pki.serving("stranger")
        r = subprocess.run([e2e.binary("kubehub-hub"), "--listen", "127.0.0.1:0", "--tunnel-listen", "127.0.0.1:0",
                            "--admin-listen", "127.0.0.1:0", "--tls-cert", crt, "--tls-key", key,
                            "--hub-id", "edgefleetx-1", "--metaserver-url", f.platform.url,
                            "--metaserver-token-file", self.token_file, "--metaserver-ca", f.pki.ca_cert],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("USER-*", r.stderr + r.stdout)

    def test_peer_certificates_renew_while_reads_cross_the_peer_link(self):
        a, b = self.hubs
        expiry = {h.name: metric(h, "kubehub_hub_certificate_expiry_timestamp_seconds", source="peer server")
                  for h in self.hubs}
        self.assertTrue(all(v > time.time() for v in expiry.values()), expiry)
        with ReadLoop(self.fleet, [(b, "edge-1"), (a, "edge-1")]) as loop:
            # Renewal is due two thirds into 20 s; wait for a second enrolment on both hubs.
            e2e.wait_until(lambda: all(metric(h, "kubehub_hub_peer_certificate_enrolments_total",
                                              result="ok") >= 1 and
                                       metric(h, "kubehub_hub_certificate_generation",
                                              source="peer server") >= 2 for h in self.hubs),
                           timeout=40, interval=0.5, what="both hubs renewed their peer certificates")
            time.sleep(1)
        self.assertGreater(loop.ok, 20, str(loop))
        self.assertEqual(loop.failed, [], str(loop))
        for h in self.hubs:
            self.assertGreater(metric(h, "kubehub_hub_certificate_expiry_timestamp_seconds",
                                      source="peer server"), expiry[h.name], h.name)
            self.assertRegex(h.proc.log_text(), r"peer certificate enrolled")
        self.assertGreater(metric(b, "kubehub_hub_peer_requests_total", direction="out",
                                  outcome="forwarded"), 0)
        # A link dialed after the renewal presents the renewed certificate: hub a's peer
        # listener hands out the new one (to a client with a hub certificate of the fleet).
        probe = e2e.hub_peer_certificate(self.fleet.platform, "edgefleet-probe", self.token_file)
        got = presented(a.peer, self.fleet.agent_ca, client=probe)
        end = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-enddate"], input=got,
                             capture_output=True, check=True).stdout.decode().strip().split("=", 1)[1]
        presented_expiry = time.mktime(time.strptime(end, "%b %d %H:%M:%S %Y %Z")) - time.timezone
        self.assertAlmostEqual(presented_expiry,
                               metric(a, "kubehub_hub_certificate_expiry_timestamp_seconds",
                                      source="peer server"), delta=1)
        self.assertGreater(presented_expiry, expiry[a.name])

if __name__ == "__main__":
    unittest.main()
