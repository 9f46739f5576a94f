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


if __name__ == "__main__":
    unittest.main()
