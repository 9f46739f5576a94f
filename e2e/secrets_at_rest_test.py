"""Private keys at rest: with --encryption-key-file the token signing keys and the tunnel CA's
key are sealed in PostgreSQL (a copy of the database holds no usable key), keys stored before
are sealed at the next start, a new envelope key takes over after a restart while the old one
still opens, and a metaserver given the wrong keys refuses to start saying which key it lacks.
Tokens issued before each step keep working and the CA stays the same. No log line carries a
private key or a token."""
import base64
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402


def key_line(kid):
    return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"


class SecretsAtRestTest(unittest.TestCase):
    def setUp(self):
        self.work = e2e.Workdir()
        self.pg = e2e.Postgres()
        self.admin = "admin-" + os.urandom(16).hex()
        self.meta = None
        self.starts = 0

    def tearDown(self):
        try:
            if self.meta:
                self.meta.stop()
        finally:
            self.pg.close()
            if getattr(self, "_failed", False):
                e2e.print_logs(self.work, [f"metaserver-{i}.log" for i in range(1, self.starts + 1)])
            self.work.close()

    def run(self, result=None):
        result = super().run(result)
        if result and not result.wasSuccessful():
            self._failed = True
        return result

    def keys_file(self, *lines):
        path = self.work.join(f"keys-{self.starts}-{len(lines)}")
        with open(path, "w") as f:
            f.write("# envelope keys\n" + "\n".join(lines) + "\n")
        return path

    def start(self, keys=None):
        if self.meta:
            self.meta.stop()
        self.starts += 1
        extra = ["--encryption-key-file", keys] if keys else []
        self.meta = e2e.Metaserver(self.work, self.pg.conninfo, name=f"metaserver-{self.starts}",
                                   admin_token=self.admin, extra=extra)
        return self.meta

    def stored(self):
        """(the signing keys' private_key_pem values joined by |, the CA's key_pem) as stored."""
        return (self.pg.psql("SELECT string_agg(private_key_pem, '|') FROM signing_keys"),
                self.pg.psql("SELECT key_pem FROM certificate_authority"))

    def whoami(self, token):
        return self.meta.json("GET", "/api/v1/whoami", token=token)[0]

    def ca_pem(self):
        return self.meta.request("GET", "/api/v1/ca.crt")[2]

    def refused_start(self, keys):
        self.starts += 1
        r = subprocess.run([e2e.binary("kubehub-metaserver"), "--listen", "127.0.0.1:0",
                            "--admin-listen", "127.0.0.1:0", "--insecure-http",
                            "--database-url", self.pg.conninfo, "--encryption-key-file", keys],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout + r.stderr

    def test_keys_sealed_rotated_and_refused_without_their_key(self):
        # 1. No key file: stored as they are, and the metaserver says so.
        self.start()
        signing, ca = self.stored()
        self.assertIn("PRIVATE KEY", signing)
        self.assertIn("PRIVATE KEY", ca)
        self.assertRegex(self.meta.proc.log_text(), r"no --encryption-key-file")
        self.meta.json("POST", "/api/v1/tenants", {"name": "ops"}, token=self.admin, expect=201)
        self.meta.json("POST", "/api/v1/users", {"name": "alice", "tenant": "ops"}, token=self.admin,
                       expect=201)
        _, issued = self.meta.json("POST", "/api/v1/tokens", {"user": "alice", "ttl": "1h"},
                                   token=self.admin, expect=201)
        token = issued.get("token") or issued.get("secret")
        self.assertEqual(self.whoami(token), 200)
        ca_before = self.ca_pem()

        # 2. A key file: what was stored is sealed at start; tokens and the CA are unchanged.
        k1 = key_line("k1")
        self.start(self.keys_file(k1))
        signing, ca = self.stored()
        self.assertNotIn("PRIVATE KEY", signing + ca)
        self.assertTrue(signing.startswith("kh-sealed:v1:k1:"), signing[:40])
        self.assertTrue(ca.startswith("kh-sealed:v1:k1:"), ca[:40])
        self.assertEqual(self.whoami(token), 200)
        self.assertEqual(self.ca_pem(), ca_before)
        # A signing key made from now on is sealed when it is stored.
        self.meta.json("POST", "/api/v1/signing-keys/rotate", {}, token=self.admin)
        signing, _ = self.stored()
        self.assertEqual(signing.count("kh-sealed:v1:k1:"), 2, signing)
        self.assertNotIn("PRIVATE KEY", signing)
        _, issued = self.meta.json("POST", "/api/v1/tokens", {"user": "alice", "ttl": "1h"},
                                   token=self.admin, expect=201)
        token2 = issued.get("token") or issued.get("secret")
        self.assertEqual(self.whoami(token2), 200)

        # 3. Rotation: k2 first, k1 still given: everything is sealed again under k2.
        k2 = key_line("k2")
        self.start(self.keys_file(k2, k1))
        signing, ca = self.stored()
        self.assertEqual(signing.count("kh-sealed:v1:k2:"), 2, signing)
        self.assertTrue(ca.startswith("kh-sealed:v1:k2:"))
        self.assertEqual(self.whoami(token), 200)
        self.assertEqual(self.whoami(token2), 200)
        self.assertEqual(self.ca_pem(), ca_before)
        self.meta.stop()
        self.meta = None

        # 4. Without k2 it cannot open them: it refuses to start and names the key.
        out = self.refused_start(self.keys_file(k1))
        self.assertIn('sealed with encryption key "k2"', out)
        # A key of the same id with other bytes does not open them either.
        out = self.refused_start(self.keys_file(key_line("k2")))
        self.assertIn('does not open with key "k2"', out)
        # Nor does a metaserver given no key file at all.
        self.starts += 1
        r = subprocess.run([e2e.binary("kubehub-metaserver"), "--listen", "127.0.0.1:0",
                            "--admin-listen", "127.0.0.1:0", "--insecure-http",
                            "--database-url", self.pg.conninfo], capture_output=True, text=True,
                           timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no key file was given", r.stdout + r.stderr)

        # 5. Back with the right keys, nothing was lost.
        self.start(self.keys_file(k2))
        self.assertEqual(self.whoami(token), 200)
        self.assertEqual(self.ca_pem(), ca_before)

        # No log line carries a private key, an envelope key or a token.
        for i in range(1, self.starts + 1):
            path = self.work.join(f"metaserver-{i}.log")
            if not os.path.exists(path):
                continue
            with open(path) as f:
                text = f.read()
            for secret in ("PRIVATE KEY", k1.split(":", 1)[1], k2.split(":", 1)[1], token, token2,
                           self.admin):
                self.assertNotIn(secret, text, f"metaserver-{i}.log")


class LogCheckTest(unittest.TestCase):
    """The check every scenario's Workdir runs on its logs when it closes (the e2e suite's only
    guard against a secret in a log line) finds each kind of secret a component could leak."""

    def leaks_of(self, line, prepare=None):
        work = e2e.Workdir(prefix="kubehub-logcheck-")
        try:
            if prepare:
                prepare(work)
            with open(work.join("component.log"), "w") as f:
                f.write("I 2026-12-05T00:00:00Z starting\n" + line + "\n")
        except BaseException:
            work.close()
            raise
        try:
            work.close()
        except AssertionError as e:
            return str(e)
        return None

    def test_each_kind_of_secret_is_found(self):
        static = "static-" + os.urandom(12).hex()
        edge = "edge-" + os.urandom(12).hex()
        boot = "boot-" + os.urandom(12).hex()

        def token_file(work):
            e2e.write_token_file(work.join("tokens.csv"), [(static, "u", "uid", ["g"])])

        def kubeconfig(work):
            ca = work.join("ca.crt")
            with open(ca, "w") as f:
                f.write("not a certificate\n")
            e2e.write_kubeconfig(work.join("edge.kubeconfig"), "https://127.0.0.1:1", ca, token=edge)

        jwt = ("eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6MTgwMDAwMDAwMH0."
               + base64.urlsafe_b64encode(os.urandom(64)).decode().rstrip("="))
        cases = [
            ("a static token", f"W bad request from alice token={static}", token_file, "the secret"),
            ("a kubeconfig's token", f"E upstream said no to Bearer {edge}", kubeconfig, "the secret"),
            ("a token the scenario noted", f"I bootstrap {boot}", lambda w: w.secrets.add(boot), "the secret"),
            ("a signed JWT", f"I user token {jwt}", None, "a signed JWT"),
            ("a private key", "-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n-----END PRIVATE KEY-----", None,
             "a PEM private key"),
        ]
        for what, line, prepare, found in cases:
            with self.subTest(what):
                leaks = self.leaks_of(line, prepare)
                self.assertIsNotNone(leaks, f"{what} in a log went unnoticed")
                self.assertIn(found, leaks)
                # The report names the secret by its first characters only.
                for secret in (static, edge, boot, jwt):
                    self.assertNotIn(secret, leaks)
        # What the components log when all is well passes: a forged token's header, the
        # secret's file names, a certificate (public).
        clean = ("W token rejected: eyJhbGciOiJFZERTQSIsImtpZCI6IngifQ.eyJzdWIiOiJhZG1pbiJ9.AAAA; "
                 "reading tokens.csv; -----BEGIN CERTIFICATE-----")
        self.assertIsNone(self.leaks_of(clean, token_file))


if __name__ == "__main__":
    unittest.main()
