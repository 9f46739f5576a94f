"""End to end: the real kubehub-metaserver on a real PostgreSQL 15, driven over HTTPS and with the
real kubehubctl, kubectl and openssl. Every resource with its error paths, concurrency, a
PostgreSQL restart, malformed and oversized input, SQL-injection strings, issued kubeconfigs,
token signatures, expiry and revocation, user and tenant bans (the hubs' feed and refusal at the
metaserver), bootstrap token -> CSR -> certificate, the registry, the audit log, and two
metaservers starting at once on one empty database; and, with a hub, an agent and the stand-in,
each cluster's status report (Kubernetes version, nodes, agent) from the agent to the REST API
and kubehubctl, kept after the agent goes."""
import base64
import json
import os
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
from fleet import FleetTestCase, metric  # noqa: E402

ADMIN = "admin-secret-0123456789abcdef"
HUB_URL = "https://hub.example.test:8443"


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Env:
    """PostgreSQL + an HTTPS metaserver + PKI, shared by the tests of one class."""

    def __init__(self, extra=()):
        self.work = e2e.Workdir(prefix="kubehub-meta-e2e-")
        self.pg = None
        self.ms = None
        try:
            self.pki = e2e.Pki(self.work.join("pki"))
            self.pg = e2e.Postgres()
            self.ms = e2e.Metaserver(self.work, self.pg.conninfo, pki=self.pki, admin_token=ADMIN,
                                     extra=["--hub-url", HUB_URL, "--hub-ca-file", self.pki.ca_cert,
                                            "--max-body-bytes", "65536", *extra])
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.ms:
            self.ms.stop()
        if self.pg:
            self.pg.close()
        self.work.close()

    def ctl(self, *args, token=ADMIN, check=True, input=None):
        env = {**os.environ, "KUBEHUB_SERVER": self.ms.url, "KUBEHUB_CA_FILE": self.pki.ca_cert}
        env.pop("KUBEHUB_TOKEN", None)
        if token:
            env["KUBEHUB_TOKEN"] = token
        r = subprocess.run([e2e.binary("kubehubctl"), *args], capture_output=True, text=True, env=env,
                           timeout=60, input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"kubehubctl {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
        return r

    def api(self, method, path, body=None, token=ADMIN, expect=None, **kw):
        return self.ms.json(method, path, body=body, token=token, expect=expect, **kw)

    def issue(self, user, ttl="1h", token=ADMIN):
        _, t = self.api("POST", "/api/v1/tokens", {"user": user, "ttl": ttl}, token=token, expect=201)
        return t


def verify_with_openssl(workdir, token, jwks):
    """Verifies a token's EdDSA signature with the openssl CLI and the published JWK set only."""
    header_b64, claims_b64, sig_b64 = token.split(".")
    header = json.loads(b64url_decode(header_b64))
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    spki = bytes.fromhex("302a300506032b6570032100") + b64url_decode(key["x"])
    pub = os.path.join(workdir, f"pub-{key['kid']}.pem")
    with open(pub, "w") as f:
        f.write("-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(spki).decode() + "\n-----END PUBLIC KEY-----\n")
    data = os.path.join(workdir, "signed-data")
    sig = os.path.join(workdir, "sig")
    with open(data, "wb") as f:
        f.write(f"{header_b64}.{claims_b64}".encode())
    with open(sig, "wb") as f:
        f.write(b64url_decode(sig_b64))
    r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", data,
                        "-sigfile", sig], capture_output=True, text=True)
    return r.returncode == 0, header, json.loads(b64url_decode(claims_b64))


class MetaserverApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = Env(extra=["--registry-ttl", "2s"])
        cls.ms = cls.env.ms

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def api(self, *a, **kw):
        return self.env.api(*a, **kw)

    def error(self, method, path, body=None, expect=None, **kw):
        status, j = self.api(method, path, body, **kw)
        self.assertEqual(status, expect, j)
        self.assertEqual(set(j.keys()), {"error"}, j)
        self.assertEqual(j["error"]["code"], expect)
        self.assertTrue(j["error"]["message"])
        return j["error"]["message"]

    def test_change_feed_long_poll(self):
        self.api("POST", "/api/v1/tenants", {"name": "feed"}, expect=201)
        self.api("POST", "/api/v1/users", {"name": "feed-hub", "tenant": "feed", "roles": ["hub"]}, expect=201)
        self.api("POST", "/api/v1/users", {"name": "feed-user", "tenant": "feed"}, expect=201)
        hub = self.env.issue("feed-hub")["token"]
        user = self.env.issue("feed-user")["token"]
        _, first = self.api("GET", "/api/v1/changes", token=hub, expect=200)
        self.assertEqual(set(first["feeds"]), {"revocations", "bans", "grants", "clusters", "routes", "keys"})
        self.assertEqual(self.error("GET", "/api/v1/changes", token=user, expect=403).count("hub"), 1)
        self.assertIn("since must be", self.error("GET", "/api/v1/changes?since=bans", token=hub, expect=400))
        self.assertIn("wait must be", self.error("GET", "/api/v1/changes?wait=61", token=hub, expect=400))
        # Nothing changes: the poll is held for its wait and answers the same generations.
        since = urllib.parse.quote(first["since"])
        started = time.monotonic()
        _, same = self.api("GET", f"/api/v1/changes?since={since}&wait=1", token=hub, expect=200)
        self.assertGreaterEqual(time.monotonic() - started, 0.9)
        self.assertEqual(same["feeds"], first["feeds"])
        # A change answers a held poll: a ban moves the bans feed and nothing else it need not.
        got = []
        t = threading.Thread(target=lambda: got.append(
            self.api("GET", f"/api/v1/changes?since={since}&wait=30", token=hub)), daemon=True)
        t.start()
        time.sleep(0.3)
        self.assertFalse(got, "answered before anything changed")
        ctl = self.env.ctl("user", "disable", "feed-user", "--reason", "feed test")
        self.assertEqual(ctl.returncode, 0)
        t.join(10)
        self.assertTrue(got, "a ban did not end the long poll")
        status, moved = got[0]
        self.assertEqual(status, 200)
        self.assertGreater(moved["feeds"]["bans"], first["feeds"]["bans"])
        self.assertEqual(moved["feeds"]["revocations"], first["feeds"]["revocations"])

    def test_tenants_users_clusters_grants_with_error_paths(self):
        self.api("POST", "/api/v1/tenants", {"name": "crud", "description": "CRUD test"}, expect=201)
        self.assertIn("already exists", self.error("POST", "/api/v1/tenants", {"name": "crud"}, expect=409))
        self.assertIn("DNS label", self.error("POST", "/api/v1/tenants", {"name": "Not_Valid"}, expect=422))
        self.assertIn("required", self.error("POST", "/api/v1/tenants", {"description": "x"}, expect=400))
        _, t = self.api("GET", "/api/v1/tenants/crud", expect=200)
        self.assertEqual(t["description"], "CRUD test")
        self.error("GET", "/api/v1/tenants/nope", expect=404)
        _, lst = self.api("GET", "/api/v1/tenants", expect=200)
        self.assertIn("crud", [x["name"] for x in lst["items"]])

        self.api("POST", "/api/v1/users", {"name": "crud-user", "tenant": "crud", "groups": ["g1"]}, expect=201)
        self.assertIn("tenant \"ghost\" not found",
                      self.error("POST", "/api/v1/users", {"name": "u2", "tenant": "ghost"}, expect=404))
        self.error("POST", "/api/v1/users", {"name": "crud-user", "tenant": "crud"}, expect=409)
        self.error("POST", "/api/v1/users", {"name": "u3", "tenant": "crud", "roles": ["root"]}, expect=422)
        _, users = self.api("GET", "/api/v1/users?tenant=crud", expect=200)
        self.assertEqual([u["name"] for u in users["items"]], ["crud-user"])

        self.api("POST", "/api/v1/clusters", {"name": "crud-c", "labels": {"env": "prod", "zone": "a"},
                                              "description": "edge"}, expect=201)
        self.api("POST", "/api/v1/clusters", {"name": "crud-d", "labels": {"env": "dev"}}, expect=201)
        self.error("POST", "/api/v1/clusters", {"name": "crud-c"}, expect=409)
        _, cl = self.api("GET", "/api/v1/clusters/crud-c", expect=200)
        self.assertEqual(cl["status"]["state"], "disconnected")
        self.assertFalse(cl["disabled"])
        _, sel = self.api("GET", "/api/v1/clusters?selector=" + "env%20in%20(prod)", expect=200)
        names = [c["name"] for c in sel["items"]]
        self.assertIn("crud-c", names)
        self.assertNotIn("crud-d", names)
        _, patched = self.api("PATCH", "/api/v1/clusters/crud-d", {"disabled": True, "labels": {"env": "qa"}}, expect=200)
        self.assertTrue(patched["disabled"])
        self.assertEqual(patched["labels"], {"env": "qa"})
        # Merge-patch nulls: labels and description removed, a null "disabled" changes nothing.
        _, patched = self.api("PATCH", "/api/v1/clusters/crud-d", {"disabled": True, "labels": None}, expect=200,
                              headers={"Content-Type": "application/merge-patch+json"})
        self.assertTrue(patched["disabled"])
        self.assertEqual(patched["labels"], {})
        _, patched = self.api("PATCH", "/api/v1/clusters/crud-c", {"description": None, "disabled": None}, expect=200)
        self.assertEqual(patched["description"], "")
        self.assertFalse(patched["disabled"])
        self.assertEqual(patched["labels"], {"env": "prod", "zone": "a"})
        self.error("PATCH", "/api/v1/clusters/ghost", {"disabled": True}, expect=404)

        grant = {"name": "crud-g", "tenant": "crud", "user": "crud-user",
                 "clusters": {"names": ["crud-c"], "selector": "env=prod"},
                 "rules": [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"],
                            "namespaces": ["default"]}]}
        _, g = self.api("POST", "/api/v1/grants", grant, expect=201)
        self.assertEqual(g["rules"][0]["namespaces"], ["default"])
        self.error("POST", "/api/v1/grants", grant, expect=409)
        self.error("POST", "/api/v1/grants", {**grant, "name": "g-bad", "rules": [{**grant["rules"][0], "verbs": ["hack"]}]},
                   expect=422)
        self.error("POST", "/api/v1/grants", {**grant, "name": "g-nouser", "user": "ghost"}, expect=404)
        # An empty user is a mistake (an unset variable), never a grant to the whole tenant.
        self.assertIn('field "user" must not be empty',
                      self.error("POST", "/api/v1/grants", {**grant, "name": "g-empty", "user": ""}, expect=422))
        self.error("GET", "/api/v1/grants/g-empty", expect=404)
        _, gl = self.api("GET", "/api/v1/grants?tenant=crud", expect=200)
        self.assertEqual([x["name"] for x in gl["items"]], ["crud-g"])

        self.assertIn("users or grants", self.error("DELETE", "/api/v1/tenants/crud", expect=409))
        self.api("DELETE", "/api/v1/grants/crud-g", expect=204)
        self.error("DELETE", "/api/v1/grants/crud-g", expect=404)
        self.api("DELETE", "/api/v1/users/crud-user", expect=204)
        self.api("DELETE", "/api/v1/tenants/crud", expect=204)
        self.api("DELETE", "/api/v1/clusters/crud-c", expect=204)
        self.api("DELETE", "/api/v1/clusters/crud-d", expect=204)
        self.error("GET", "/api/v1/clusters/crud-c", expect=404)

    def test_lists_page_with_limit_and_continue(self):
        """Keyset pages: rows added or deleted between pages shift nothing; kubehubctl reads every page."""
        self.api("POST", "/api/v1/tenants", {"name": "paged"}, expect=201)
        names = [f"pg-{i:02d}" for i in range(7)]
        for n in names:
            self.api("POST", "/api/v1/users", {"name": n, "tenant": "paged"}, expect=201)

        def pages(path, limit, between=None):
            seen, token, count = [], "", 0
            while True:
                sep = "&" if "?" in path else "?"
                q = f"{path}{sep}limit={limit}" + (f"&continue={urllib.parse.quote(token)}" if token else "")
                _, page = self.api("GET", q, expect=200)
                self.assertLessEqual(len(page["items"]), limit, page)
                seen += [x.get("name") or x.get("id") for x in page["items"]]
                token = page.get("metadata", {}).get("continue", "")
                count += 1
                if between and count == 1:
                    between()
                if not token:
                    return seen, count

        seen, count = pages("/api/v1/users?tenant=paged", 3)
        self.assertEqual(seen, names)
        self.assertEqual(count, 3, "7 users by 3: pages of 3, 3 and 1")
        _, whole = self.api("GET", "/api/v1/users?tenant=paged", expect=200)
        self.assertEqual([u["name"] for u in whole["items"]], names, "without limit: everything, one answer")
        self.assertNotIn("metadata", whole)

        # Between the first and second page: one user before the cursor goes, one after it comes
        # and one before it comes. Nothing listed twice, nothing present throughout missed.
        def churn():
            self.api("DELETE", "/api/v1/users/pg-00", expect=204)
            self.api("POST", "/api/v1/users", {"name": "pg-05a", "tenant": "paged"}, expect=201)
            self.api("POST", "/api/v1/users", {"name": "pg-00a", "tenant": "paged"}, expect=201)
        seen, _ = pages("/api/v1/users?tenant=paged", 3, between=churn)
        self.assertEqual(seen, ["pg-00", "pg-01", "pg-02", "pg-03", "pg-04", "pg-05", "pg-05a", "pg-06"])

        # Tokens page by (issue time, id): several issued within one second (same issue time)
        # come in id order, across page boundaries too.
        user = "pg-03"
        ids = [self.env.issue(user)["id"] for _ in range(5)]
        seen, count = pages(f"/api/v1/tokens?user={user}", 2)
        _, whole = self.api("GET", f"/api/v1/tokens?user={user}", expect=200)
        self.assertEqual(seen, [t["id"] for t in whole["items"]])
        self.assertEqual(sorted(seen), sorted(ids))
        self.assertEqual(count, 3)

        # A cluster page holds those of its rows that match the selector (possibly none).
        for i in range(5):
            self.api("POST", "/api/v1/clusters", {"name": f"pgc-{i}", "labels": {"paged": "yes" if i % 2 else "no"}},
                     expect=201)
        seen, _ = pages("/api/v1/clusters?selector=paged%3Dyes", 2)
        self.assertEqual(seen, ["pgc-1", "pgc-3"])

        # Bad parameters: 422 (as every invalid argument here) naming them; a token of one list
        # is refused by another.
        self.assertIn("limit", self.error("GET", "/api/v1/users?limit=0", expect=422))
        self.assertIn("limit", self.error("GET", "/api/v1/tenants?limit=abc", expect=422))
        _, first = self.api("GET", "/api/v1/users?tenant=paged&limit=1", expect=200)
        token = first["metadata"]["continue"]
        self.assertIn("continue", self.error("GET", f"/api/v1/clusters?limit=1&continue={token}", expect=422))
        self.assertIn("continue", self.error("GET", "/api/v1/users?limit=1&continue=garbage!", expect=422))

        # kubehubctl follows the pages: the same table as one big page.
        small = self.env.ctl("user", "list", "--tenant", "paged", "--page-size", "2", "-o", "json")
        big = self.env.ctl("user", "list", "--tenant", "paged", "-o", "json")
        self.assertEqual(json.loads(small.stdout), json.loads(big.stdout))
        self.assertEqual(len(json.loads(small.stdout)["items"]), 8)
        table = self.env.ctl("token", "list", "--user", user, "--page-size", "2").stdout
        for token_id in ids:
            self.assertIn(token_id, table)
        bad = self.env.ctl("user", "list", "--page-size", "0", check=False)
        self.assertEqual(bad.returncode, 2, bad.stderr)
        self.assertIn("--page-size", bad.stderr)

    def test_method_path_and_media_type_errors(self):
        self.error("GET", "/api/v1/nothing-here", expect=404)
        status, headers, _ = self.ms.request("PUT", "/api/v1/tenants", token=ADMIN, raw=b"{}")
        self.assertEqual(status, 405)
        self.assertIn("POST", headers["allow"])
        self.error("POST", "/api/v1/tenants", None, expect=415, raw=b'{"name":"x"}', headers={"Content-Type": "text/plain"})
        # A query pair Go's url.ParseQuery would drop is refused, not ignored: a filter the
        # caller meant must not vanish into a wider list.
        for query in ("user=bob%", "user=bob%zz", "user=bob;tenant=x"):
            message = self.error("GET", f"/api/v1/tokens?{query}", expect=400)
            self.assertIn("malformed query parameter", message)
        self.api("GET", "/api/v1/tokens?user=b%6Fb", expect=200)  # a good escape is read

    def test_malformed_json_unknown_fields_and_oversized_bodies(self):
        for raw in [b'{"name":', b"[1,2]", b"null", b"\xff\xfe"]:
            s, j = self.api("POST", "/api/v1/tenants", raw=raw, headers={"Content-Type": "application/json"})
            self.assertEqual(s, 400, (raw, j))
        self.assertIn("unknown field \"nmae\"",
                      self.error("POST", "/api/v1/tenants", {"nmae": "typo", "name": "x1"}, expect=400))
        self.assertIn("must be a string", self.error("POST", "/api/v1/tenants", {"name": 12}, expect=400))
        # An oversized body is refused from its Content-Length, before it is read. (Only the
        # head is sent: a client still sending after the server answered and closed may see a
        # reset instead of the answer.)
        host = self.ms.api.rsplit(":", 1)[0]
        head, body = self.raw_exchange(
            f"POST /api/v1/tenants HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ADMIN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 413"), head)
        self.assertEqual(json.loads(body)["error"]["code"], 413)
        self.assertIn("too large", json.loads(body)["error"]["message"])
        self.error("GET", "/api/v1/tenants/big", expect=404)
        # A head over the header limit is 431 and names that limit, not the body's.
        head, body = self.raw_exchange(
            f"GET /api/v1/tenants HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ADMIN}\r\n"
            f"X-Padding: {'p' * 17000}\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 431"), head)
        error = json.loads(body)["error"]
        self.assertEqual(error["code"], 431)
        self.assertIn("header fields too large", error["message"])

    def raw_exchange(self, request):
        """Sends `request` as it is over TLS and reads one JSON answer: (head, body) bytes."""
        import socket
        import ssl
        host, port = self.ms.api.rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=self.env.pki.ca_cert)
        with socket.create_connection((host, int(port)), timeout=30) as raw_sock:
            with ctx.wrap_socket(raw_sock, server_hostname=host) as tls:
                tls.sendall(request.encode())
                data = b""
                while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return head, body

    def test_sql_injection_strings_are_rejected_or_harmless(self):
        evil = ["x'; DROP TABLE tenants; --", "a\" OR 1=1 --", "robert'); DELETE FROM users;--", "%27%3B", "a b"]
        for name in evil:
            s, _ = self.api("POST", "/api/v1/tenants", {"name": name})
            self.assertEqual(s, 422, name)
            s, _ = self.api("POST", "/api/v1/clusters", {"name": "c1", "labels": {"k": name}})
            self.assertEqual(s, 422, name)
        for selector in ["env=prod'; DROP TABLE clusters;--", "env in (a') OR ('1'='1)", "1=1 OR"]:
            s, _ = self.api("GET", "/api/v1/clusters?selector=" + e2e_quote(selector))
            self.assertEqual(s, 422, selector)
        s, _ = self.api("GET", "/api/v1/tenants/" + e2e_quote("x' OR '1'='1"))
        self.assertEqual(s, 422)
        # Free text goes through parameters: stored verbatim, nothing executed.
        payload = "'); DROP TABLE tenants; --"
        self.api("POST", "/api/v1/tenants", {"name": "inj", "description": payload}, expect=201)
        _, t = self.api("GET", "/api/v1/tenants/inj", expect=200)
        self.assertEqual(t["description"], payload)
        self.assertEqual(self.env.pg.psql("SELECT count(*) FROM tenants WHERE name = 'inj'"), "1")
        self.api("DELETE", "/api/v1/tenants/inj", expect=204)

    def test_parallel_creates_of_one_name_exactly_one_wins(self):
        for kind, body in [("tenants", {"name": "race"}), ("clusters", {"name": "race"})]:
            results = []
            barrier = threading.Barrier(10)

            def create():
                barrier.wait(timeout=10)
                s, _ = self.api("POST", f"/api/v1/{kind}", body)
                results.append(s)

            threads = [threading.Thread(target=create) for _ in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            self.assertEqual(sorted(results), [201] + [409] * 9, kind)
        self.assertEqual(self.env.pg.psql("SELECT count(*) FROM tenants WHERE name = 'race'"), "1")

    def test_authentication_and_roles(self):
        self.api("POST", "/api/v1/tenants", {"name": "auth"}, expect=201)
        self.api("POST", "/api/v1/users", {"name": "plain", "tenant": "auth"}, expect=201)
        self.api("POST", "/api/v1/users", {"name": "auth-hub", "tenant": "auth", "roles": ["hub"]}, expect=201)
        self.api("POST", "/api/v1/users", {"name": "auth-admin", "tenant": "auth", "roles": ["admin"]}, expect=201)
        s, headers, _ = self.ms.request("GET", "/api/v1/tenants")
        self.assertEqual(s, 401)
        self.assertEqual(headers.get("www-authenticate"), "Bearer")
        self.error("GET", "/api/v1/tenants", token="not-a-token", expect=401)
        plain = self.env.issue("plain")["token"]
        hub = self.env.issue("auth-hub")["token"]
        admin = self.env.issue("auth-admin")["token"]
        self.assertIn("admin role", self.error("GET", "/api/v1/tenants", token=plain, expect=403))
        self.error("POST", "/api/v1/tenants", {"name": "nope"}, token=hub, expect=403)
        self.api("GET", "/api/v1/clusters", token=hub, expect=200)
        # An admin token is an ordinary token of a user with the admin role.
        self.api("POST", "/api/v1/tenants", {"name": "by-admin-token"}, token=admin, expect=201)
        _, who = self.api("GET", "/api/v1/whoami", token=plain, expect=200)
        self.assertEqual((who["user"], who["tenant"], who["admin"]), ("plain", "auth", False))
        # Users see only their own tokens.
        _, mine = self.api("GET", "/api/v1/tokens", token=plain, expect=200)
        self.assertEqual({t["user"] for t in mine["items"]}, {"plain"})
        self.error("GET", "/api/v1/tokens?user=auth-admin", token=plain, expect=403)
        self.error("GET", "/api/v1/users/auth-admin", token=plain, expect=403)
        self.api("GET", "/api/v1/users/plain", token=plain, expect=200)
        # A bootstrap token opens nothing but the certificate endpoint.
        self.error("GET", "/api/v1/tenants", token="khb_whatever", expect=403)

    def test_token_signature_verification_expiry_and_rotation(self):
        self.api("POST", "/api/v1/tenants", {"name": "sig"}, expect=201)
        self.api("POST", "/api/v1/users", {"name": "sig-user", "tenant": "sig", "groups": ["devs", "sre"]}, expect=201)
        issued = self.env.issue("sig-user", ttl="2s")
        _, jwks = self.api("GET", "/api/v1/signing-keys", token=None, expect=200)
        ok, header, claims = verify_with_openssl(self.env.work.path, issued["token"], jwks)
        self.assertTrue(ok, "openssl rejected the token's signature")
        self.assertEqual(header["alg"], "EdDSA")
        self.assertEqual(header["kid"], jwks["activeKeyId"])
        self.assertEqual(claims["sub"], "sig-user")
        self.assertEqual(claims["tenant"], "sig")
        self.assertEqual(claims["groups"], ["devs", "sre"])
        self.assertEqual(claims["jti"], issued["id"])
        self.assertEqual(claims["exp"] - claims["iat"], 2)
        self.assertNotIn("token", self.api("GET", f"/api/v1/tokens/{issued['id']}", expect=200)[1])
        # Tampering breaks the signature, both for openssl and for the server.
        h, c, s = issued["token"].split(".")
        forged_claims = base64.urlsafe_b64encode(json.dumps({**claims, "sub": "root"}).encode()).decode().rstrip("=")
        forged = f"{h}.{forged_claims}.{s}"
        self.assertFalse(verify_with_openssl(self.env.work.path, forged, jwks)[0])
        self.assertIn("signature", self.error("GET", "/api/v1/whoami", token=forged, expect=401))
        # Expiry: the same token stops working after its TTL.
        self.api("GET", "/api/v1/whoami", token=issued["token"], expect=200)
        msg = e2e.wait_until(lambda: self.api("GET", "/api/v1/whoami", token=issued["token"])[1]["error"]["message"],
                             timeout=10, interval=0.1, what="token expiry")
        self.assertIn("expired", msg)
        # Public routes are for anyone: a stale or unusable credential sent along is ignored.
        stale = {"expired token": {"Authorization": f"Bearer {issued['token']}"},
                 "garbage token": {"Authorization": "Bearer not-a-token"},
                 "bootstrap token": {"Authorization": "Bearer khb_whatever"},
                 "other scheme": {"Authorization": "Basic eDp5"}}
        for path in ("/api/v1/ca.crt", "/api/v1/signing-keys", "/api/v1/revocations?since=0", "/openapi.json"):
            for what, headers in stale.items():
                status, _, _ = self.ms.request("GET", path, headers=headers)
                self.assertEqual(status, 200, f"{path} with an {what}")
        # Rotation: new tokens use the new key; old tokens still verify; both keys published.
        old = self.env.issue("sig-user")
        _, rotated = self.api("POST", "/api/v1/signing-keys/rotate", {}, expect=201)
        new = self.env.issue("sig-user")
        _, jwks2 = self.api("GET", "/api/v1/signing-keys", token=None, expect=200)
        self.assertEqual(jwks2["activeKeyId"], rotated["activeKeyId"])
        self.assertEqual(len(jwks2["keys"]), len(jwks["keys"]) + 1)
        self.assertEqual(json.loads(b64url_decode(new["token"].split(".")[0]))["kid"], rotated["activeKeyId"])
        self.assertTrue(verify_with_openssl(self.env.work.path, new["token"], jwks2)[0])
        self.api("GET", "/api/v1/whoami", token=old["token"], expect=200)
        self.api("GET", "/api/v1/whoami", token=new["token"], expect=200)

    def test_revocation_feed_delivers_within_a_second(self):
        self.api("POST", "/api/v1/tenants", {"name": "rev"}, expect=201)
        self.api("POST", "/api/v1/users", {"name": "rev-user", "tenant": "rev"}, expect=201)
        self.api("POST", "/api/v1/users", {"name": "rev-gone", "tenant": "rev"}, expect=201)
        t1 = self.env.issue("rev-user")
        t2 = self.env.issue("rev-gone")
        _, page = self.api("GET", "/api/v1/revocations", token=None, expect=200)
        cursor = page["cursor"]
        self.api("GET", "/api/v1/whoami", token=t1["token"], expect=200)

        seen = {}
        stop = threading.Event()

        def follow():  # what a hub does: short polling with the cursor every 100 ms
            c = cursor
            while not stop.is_set():
                s, p = self.api("GET", f"/api/v1/revocations?since={c}", token=None)
                if s == 200:
                    for item in p["items"]:
                        seen.setdefault(item["jti"], time.monotonic())
                    c = p["cursor"]
                stop.wait(0.1)

        follower = threading.Thread(target=follow)
        follower.start()
        try:
            revoked_at = time.monotonic()
            _, rec = self.api("DELETE", f"/api/v1/tokens/{t1['id']}", expect=200)
            self.assertIsNotNone(rec["revokedAt"])
            e2e.wait_until(lambda: t1["id"] in seen, timeout=5, interval=0.02, what="revocation in the feed")
            self.assertLess(seen[t1["id"]] - revoked_at, 1.0)
            # Revoking again is idempotent and does not publish twice.
            self.api("DELETE", f"/api/v1/tokens/{t1['id']}", expect=200)
            # Deleting a user revokes their tokens too.
            self.api("DELETE", "/api/v1/users/rev-gone", expect=204)
            e2e.wait_until(lambda: t2["id"] in seen, timeout=5, interval=0.02, what="user deletion in the feed")
        finally:
            stop.set()
            follower.join(timeout=10)
        self.assertIn("revoked", self.error("GET", "/api/v1/whoami", token=t1["token"], expect=401))
        self.error("GET", "/api/v1/whoami", token=t2["token"], expect=401)
        _, all_items = self.api("GET", f"/api/v1/revocations?since={cursor}", token=None, expect=200)
        self.assertEqual([i["jti"] for i in all_items["items"]].count(t1["id"]), 1)
        self.error("GET", "/api/v1/revocations?since=abc", token=None, expect=422)

    def test_user_and_tenant_bans(self):
        self.api("POST", "/api/v1/tenants", {"name": "ban"}, expect=201)
        self.api("POST", "/api/v1/tenants", {"name": "ban-ops"}, expect=201)
        self.api("POST", "/api/v1/users", {"name": "ban-alice", "tenant": "ban"}, expect=201)
        self.api("POST", "/api/v1/users", {"name": "ban-bob", "tenant": "ban"}, expect=201)
        self.api("POST", "/api/v1/users", {"name": "ban-hub", "tenant": "ban-ops", "roles": ["hub"]}, expect=201)
        self.api("POST", "/api/v1/users", {"name": "ban-admin", "tenant": "ban-ops", "roles": ["admin"]}, expect=201)
        self.api("POST", "/api/v1/clusters", {"name": "ban-edge", "disabled": True}, expect=201)
        alice = self.env.issue("ban-alice")["token"]
        bob = self.env.issue("ban-bob")["token"]
        hub = self.env.issue("ban-hub")["token"]
        admin = self.env.issue("ban-admin")["token"]
        for t in (alice, bob):
            self.api("GET", "/api/v1/whoami", token=t, expect=200)

        def banned():
            _, b = self.api("GET", "/api/v1/bans", token=hub, expect=200)
            return b

        b = banned()
        self.assertEqual(set(b), {"users", "tenants", "clusters", "serverTime"})
        self.assertIsInstance(b["serverTime"], int)
        self.assertLessEqual(abs(b["serverTime"] - time.time()), 5)
        self.assertNotIn("ban-alice", [u["name"] for u in b["users"]])
        self.assertIn({"name": "ban-edge"}, b["clusters"])  # the existing cluster bans

        # What a hub does: poll the bans (every 100 ms here, ~500 ms in hubs) and note when a
        # name appears and disappears.
        appeared, gone = {}, {}
        stop = threading.Event()

        def follow():
            while not stop.is_set():
                s, p = self.api("GET", "/api/v1/bans", token=hub)
                if s == 200:
                    now = time.monotonic()
                    names = {("user", u["name"]) for u in p["users"]} | {("tenant", t["name"]) for t in p["tenants"]}
                    for n in names:
                        appeared.setdefault(n, now)
                    for n in list(appeared):
                        if n not in names:
                            gone.setdefault(n, now)
                stop.wait(0.1)

        follower = threading.Thread(target=follow)
        follower.start()
        try:
            # A user ban: listed for hubs within a second, the token refused at the metaserver.
            started = time.monotonic()
            _, u = self.api("PATCH", "/api/v1/users/ban-alice", {"disabled": True, "reason": "phished"}, expect=200)
            self.assertEqual((u["name"], u["disabled"], u["disabledReason"]), ("ban-alice", True, "phished"))
            self.assertIsNotNone(u["disabledAt"])
            e2e.wait_until(lambda: ("user", "ban-alice") in appeared, timeout=5, interval=0.02, what="user ban in the feed")
            self.assertLess(appeared[("user", "ban-alice")] - started, 1.0)
            entry = next(x for x in banned()["users"] if x["name"] == "ban-alice")
            self.assertEqual(entry, {"name": "ban-alice", "tenant": "ban", "reason": "phished", "since": u["disabledAt"]})
            self.assertIn('user "ban-alice" is disabled', self.error("GET", "/api/v1/whoami", token=alice, expect=403))
            self.error("GET", "/api/v1/users/ban-alice", token=alice, expect=403)
            self.api("GET", "/api/v1/whoami", token=bob, expect=200)
            # No new credentials while banned.
            self.assertIn("is disabled", self.error("POST", "/api/v1/tokens", {"user": "ban-alice"}, expect=409))
            self.api("POST", "/api/v1/clusters", {"name": "ban-kc"}, expect=201)
            self.assertIn('user "ban-alice" is disabled',
                          self.error("GET", "/api/v1/users/ban-alice/kubeconfig?cluster=ban-kc", expect=409))
            # Disabling again keeps the ban's start and reason; a new reason replaces the old one.
            _, again = self.api("PATCH", "/api/v1/users/ban-alice", {"disabled": True}, expect=200)
            self.assertEqual((again["disabledAt"], again["disabledReason"]), (u["disabledAt"], "phished"))
            _, again = self.api("PATCH", "/api/v1/users/ban-alice", {"disabled": True, "reason": "phished twice"},
                                expect=200)
            self.assertEqual((again["disabledAt"], again["disabledReason"]), (u["disabledAt"], "phished twice"))
            self.assertEqual(self.env.pg.psql("SELECT disabled_at IS NOT NULL FROM users WHERE name = 'ban-alice'"), "t")
            # Lifting it: gone from the feed within a second, the same token works again.
            started = time.monotonic()
            _, u = self.api("PATCH", "/api/v1/users/ban-alice", {"disabled": False}, expect=200)
            self.assertEqual((u["disabled"], u["disabledAt"], u["disabledReason"]), (False, None, ""))
            e2e.wait_until(lambda: ("user", "ban-alice") in gone, timeout=5, interval=0.02, what="user ban lifted")
            self.assertLess(gone[("user", "ban-alice")] - started, 1.0)
            self.api("GET", "/api/v1/whoami", token=alice, expect=200)
            self.env.issue("ban-alice")

            # A tenant ban refuses all its users; other tenants are untouched.
            started = time.monotonic()
            _, t = self.api("PATCH", "/api/v1/tenants/ban", {"disabled": True, "reason": "unpaid"}, expect=200)
            self.assertEqual((t["name"], t["disabled"], t["disabledReason"]), ("ban", True, "unpaid"))
            e2e.wait_until(lambda: ("tenant", "ban") in appeared, timeout=5, interval=0.02, what="tenant ban in the feed")
            self.assertLess(appeared[("tenant", "ban")] - started, 1.0)
            entry = next(x for x in banned()["tenants"] if x["name"] == "ban")
            self.assertEqual(entry, {"name": "ban", "reason": "unpaid", "since": t["disabledAt"]})
            for token in (alice, bob):
                self.assertIn('tenant "ban" is disabled', self.error("GET", "/api/v1/whoami", token=token, expect=403))
            self.assertIn('tenant "ban" is disabled',
                          self.error("POST", "/api/v1/tokens", {"user": "ban-bob"}, expect=409))
            self.error("GET", "/api/v1/users/ban-bob/kubeconfig?cluster=ban-kc", expect=409)
            self.api("GET", "/api/v1/whoami", token=hub, expect=200)
            self.api("PATCH", "/api/v1/tenants/ban", {"disabled": False}, expect=200)
            e2e.wait_until(lambda: ("tenant", "ban") in gone, timeout=5, interval=0.02, what="tenant ban lifted")
            for token in (alice, bob):
                self.api("GET", "/api/v1/whoami", token=token, expect=200)
        finally:
            stop.set()
            follower.join(timeout=10)

        # Malformed (400) and invalid (422) bodies, unknown names (404), media type (415).
        for body in [{}, {"reason": "x"}, {"disabled": "yes"}, {"disabled": 1}, {"disabled": True, "reason": 7},
                     {"disabled": True, "description": "x"}]:
            self.error("PATCH", "/api/v1/users/ban-bob", body, expect=400)
            self.error("PATCH", "/api/v1/tenants/ban", body, expect=400)
        for raw in [b'{"disabled":', b"[true]", b"null"]:
            s, _ = self.api("PATCH", "/api/v1/users/ban-bob", raw=raw, headers={"Content-Type": "application/json"})
            self.assertEqual(s, 400, raw)
        self.error("PATCH", "/api/v1/users/ban-bob", None, expect=415, raw=b'{"disabled":true}',
                   headers={"Content-Type": "text/plain"})
        self.assertIn("only with", self.error("PATCH", "/api/v1/users/ban-bob", {"disabled": False, "reason": "x"},
                                              expect=422))
        self.error("PATCH", "/api/v1/tenants/ban", {"disabled": True, "reason": "a\u0007b"}, expect=422)
        self.error("PATCH", "/api/v1/users/ban-bob", {"disabled": True, "reason": "x" * 1025}, expect=422)
        self.error("PATCH", "/api/v1/users/Not_Valid", {"disabled": True}, expect=422)
        self.error("PATCH", "/api/v1/tenants/Not_Valid", {"disabled": True}, expect=422)
        self.assertIn('user "ghost" not found', self.error("PATCH", "/api/v1/users/ghost", {"disabled": True}, expect=404))
        self.error("PATCH", "/api/v1/tenants/ghost", {"disabled": True}, expect=404)
        self.assertFalse(self.api("GET", "/api/v1/users/ban-bob", expect=200)[1]["disabled"])

        # Only admins ban; only hubs and admins read the bans.
        for token in (bob, hub):
            self.assertIn("admin role", self.error("PATCH", "/api/v1/users/ban-alice", {"disabled": True}, token=token,
                                                   expect=403))
            self.error("PATCH", "/api/v1/tenants/ban", {"disabled": True}, token=token, expect=403)
        self.assertIn("hub or admin role", self.error("GET", "/api/v1/bans", token=bob, expect=403))
        self.error("GET", "/api/v1/bans", token=None, expect=401)
        self.api("GET", "/api/v1/bans", token=admin, expect=200)
        # An admin cannot lock itself out; another admin (here the bootstrap one) can.
        self.assertIn("your own user", self.error("PATCH", "/api/v1/users/ban-admin", {"disabled": True}, token=admin,
                                                  expect=409))
        self.assertIn("your own tenant", self.error("PATCH", "/api/v1/tenants/ban-ops", {"disabled": True},
                                                    token=admin, expect=409))
        self.api("PATCH", "/api/v1/users/ban-bob", {"disabled": True}, token=admin, expect=200)
        self.assertEqual(self.api("PATCH", "/api/v1/users/ban-bob", {"disabled": False}, token=admin,
                                  expect=200)[1]["disabled"], False)
        self.api("PATCH", "/api/v1/users/ban-admin", {"disabled": True}, expect=200)
        self.assertIn('user "ban-admin" is disabled', self.error("GET", "/api/v1/tenants", token=admin, expect=403))
        self.api("PATCH", "/api/v1/users/ban-admin", {"disabled": False}, expect=200)
        self.api("GET", "/api/v1/tenants", token=admin, expect=200)

        # Audited like every mutating call, refusals included.
        rows = self.env.pg.psql("SELECT actor || '|' || action || '|' || status || '|' || detail FROM audit_log"
                                " WHERE resource LIKE '/api/v1/users/ban-%' OR resource LIKE '/api/v1/tenants/ban%'"
                                " ORDER BY id")
        self.assertIn('admin(bootstrap)|PATCH updateUser|200|user=ban-alice disabled reason="phished"', rows)
        self.assertIn("admin(bootstrap)|PATCH updateUser|200|user=ban-alice enabled", rows)
        self.assertIn('admin(bootstrap)|PATCH updateTenant|200|tenant=ban disabled reason="unpaid"', rows)
        self.assertIn("user:ban-admin|PATCH updateUser|409|", rows)
        self.assertIn("user:ban-bob|PATCH updateUser|403|", rows)

    def test_kubehubctl_bans(self):
        ctl = self.env.ctl
        ctl("tenant", "create", "cliban")
        ctl("user", "create", "cliban-user", "--tenant", "cliban")
        ctl("user", "create", "cliban-admin", "--tenant", "cliban", "--roles", "admin")
        token = ctl("token", "issue", "--user", "cliban-user").stdout.strip()
        admin = ctl("token", "issue", "--user", "cliban-admin").stdout.strip()
        self.assertIn("user disable NAME", ctl("--help").stdout)
        self.assertIn("--reason", ctl("user", "disable", "--help").stdout)
        out = ctl("user", "disable", "cliban-user", "--reason", "on leave").stdout
        self.assertIn("disabled: true", out)
        self.assertIn("disabledReason: on leave", out)
        table = ctl("bans").stdout.splitlines()
        self.assertEqual(table[0].split(), ["KIND", "NAME", "TENANT", "SINCE", "REASON"])
        row = next(line for line in table if " cliban-user " in line)
        self.assertEqual(row.split()[:3], ["user", "cliban-user", "cliban"])
        self.assertTrue(row.endswith("on leave"), row)
        as_json = json.loads(ctl("bans", "-o", "json").stdout)
        self.assertIn("cliban-user", [u["name"] for u in as_json["users"]])
        r = ctl("whoami", token=token, check=False)
        self.assertEqual(r.returncode, 5)
        self.assertIn('user "cliban-user" is disabled', r.stderr)
        r = ctl("token", "issue", "--user", "cliban-user", check=False)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertEqual(json.loads(ctl("user", "enable", "cliban-user", "-o", "json").stdout)["disabled"], False)
        self.assertIn("cliban-user", ctl("whoami", token=token).stdout)
        self.assertNotIn("cliban-user", ctl("bans").stdout)
        # Tenants.
        ctl("tenant", "disable", "cliban", "--reason", "audit")
        self.assertTrue(any(line.split()[:2] == ["tenant", "cliban"] for line in ctl("bans").stdout.splitlines()))
        self.assertEqual(ctl("whoami", token=token, check=False).returncode, 5)
        ctl("tenant", "enable", "cliban")
        ctl("whoami", token=token)
        # Exit codes: not found 3, conflict (self-ban) 4, forbidden 5, usage 2, invalid 1.
        self.assertEqual(ctl("user", "disable", "ghost", check=False).returncode, 3)
        self.assertEqual(ctl("tenant", "enable", "ghost", check=False).returncode, 3)
        self.assertEqual(ctl("user", "disable", "cliban-admin", token=admin, check=False).returncode, 4)
        self.assertEqual(ctl("user", "disable", "cliban-admin", token=token, check=False).returncode, 5)
        self.assertEqual(ctl("bans", token=token, check=False).returncode, 5)
        self.assertEqual(ctl("user", "enable", "cliban-user", "--reason", "x", check=False).returncode, 2)
        self.assertEqual(ctl("user", "disable", check=False).returncode, 2)
        self.assertEqual(ctl("user", "disable", "Bad_Name", check=False).returncode, 1)

    def test_kubeconfig_is_accepted_by_kubectl(self):
        self.api("POST", "/api/v1/tenants", {"name": "kc"}, expect=201)
        self.api("POST", "/api/v1/users", {"name": "kc-user", "tenant": "kc", "groups": ["devs"]}, expect=201)
        self.api("POST", "/api/v1/clusters", {"name": "kc-edge"}, expect=201)
        r = self.env.ctl("kubeconfig", "--user", "kc-user", "--cluster", "kc-edge", "--ttl", "30m")
        path = self.env.work.join("kc.yaml")
        with open(path, "w") as f:
            f.write(r.stdout)
        view = subprocess.run([e2e.KUBECTL, "config", "view", "--kubeconfig", path, "--raw", "-o", "json"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(view.returncode, 0, view.stderr)
        cfg = json.loads(view.stdout)
        self.assertEqual(cfg["current-context"], "kc-user@kc-edge")
        cluster = cfg["clusters"][0]["cluster"]
        self.assertEqual(cluster["server"], f"{HUB_URL}/clusters/kc-edge")
        with open(self.env.pki.ca_cert, "rb") as f:
            self.assertEqual(base64.b64decode(cluster["certificate-authority-data"]), f.read())
        token = cfg["users"][0]["user"]["token"]
        _, jwks = self.api("GET", "/api/v1/signing-keys", token=None, expect=200)
        ok, _, claims = verify_with_openssl(self.env.work.path, token, jwks)
        self.assertTrue(ok)
        self.assertEqual((claims["sub"], claims["tenant"]), ("kc-user", "kc"))
        self.assertEqual(claims["exp"] - claims["iat"], 1800)
        # kubectl resolves the context to the hub's per-cluster URL.
        minify = subprocess.run([e2e.KUBECTL, "config", "view", "--kubeconfig", path, "--minify", "-o",
                                 "jsonpath={.clusters[0].cluster.server}"], capture_output=True, text=True, timeout=60)
        self.assertEqual(minify.stdout, f"{HUB_URL}/clusters/kc-edge")
        # Error paths.
        self.error("GET", "/api/v1/users/kc-user/kubeconfig", expect=400)
        self.error("GET", "/api/v1/users/kc-user/kubeconfig?cluster=ghost", expect=404)
        self.error("GET", "/api/v1/users/ghost/kubeconfig?cluster=kc-edge", expect=404)
        self.error("GET", "/api/v1/users/kc-user/kubeconfig?cluster=kc-edge&ttl=99999h", expect=422)
        self.api("PATCH", "/api/v1/clusters/kc-edge", {"disabled": True}, expect=200)
        self.error("GET", "/api/v1/users/kc-user/kubeconfig?cluster=kc-edge", expect=409)

    def test_kubehubctl_commands_output_and_exit_codes(self):
        ctl = self.env.ctl
        self.assertIn("tenant create NAME", ctl("--help").stdout)
        self.assertIn("--description", ctl("tenant", "create", "--help").stdout)
        self.assertIn("--cluster-selector", ctl("grant", "create", "--help").stdout)
        ctl("tenant", "create", "cli", "--description", "from the CLI")
        self.assertEqual(ctl("tenant", "create", "cli", check=False).returncode, 4)
        self.assertEqual(ctl("tenant", "get", "ghost", check=False).returncode, 3)
        bad = ctl("tenant", "create", "Bad_Name", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("DNS label", bad.stderr)
        self.assertEqual(ctl("tenant", "frobnicate", check=False).returncode, 2)
        self.assertEqual(ctl("tenant", "list", token="wrong", check=False).returncode, 5)
        table = ctl("tenant", "list").stdout.splitlines()
        self.assertEqual(table[0].split(), ["NAME", "DESCRIPTION", "CREATED"])
        self.assertTrue(any(line.startswith("cli ") for line in table))
        as_json = json.loads(ctl("-o", "json", "tenant", "list").stdout)
        self.assertIn("cli", [t["name"] for t in as_json["items"]])
        ctl("user", "create", "cli-user", "--tenant", "cli", "--groups", "devs,ops")
        self.assertEqual(json.loads(ctl("user", "get", "cli-user", "-o", "json").stdout)["groups"], ["devs", "ops"])
        ctl("cluster", "create", "cli-edge", "--labels", "env=prod,region=eu", "--description", "edge")
        self.assertIn("cli-edge", ctl("cluster", "list", "--selector", "region in (eu)").stdout)
        self.assertNotIn("cli-edge", ctl("cluster", "list", "--selector", "region=us").stdout)
        ctl("grant", "create", "cli-grant", "--tenant", "cli", "--user", "cli-user", "--clusters", "cli-edge",
            "--resources", "pods,pods/log", "--verbs", "get,list,watch", "--namespaces", "default")
        g = json.loads(ctl("grant", "get", "cli-grant", "-o", "json").stdout)
        self.assertEqual(g["rules"][0]["apiGroups"], [""])
        # `--user "$U"` with U unset: refused, not a grant to the whole tenant.
        empty = ctl("grant", "create", "cli-empty", "--tenant", "cli", "--user", "", "--clusters", "cli-edge",
                    "--commands", "*", check=False)
        self.assertEqual(empty.returncode, 2, empty.stderr)
        self.assertIn("--user is empty", empty.stderr)
        self.assertEqual(ctl("grant", "get", "cli-empty", check=False).returncode, 3)
        self.assertIn("cli-grant", ctl("grant", "list", "--tenant", "cli").stdout)
        token = ctl("token", "issue", "--user", "cli-user", "--ttl", "1h", "--description", "ci").stdout.strip()
        self.assertEqual(token.count("."), 2)
        listed = json.loads(ctl("token", "list", "--user", "cli-user", "-o", "json").stdout)["items"]
        self.assertEqual(len(listed), 1)
        self.assertNotIn(token, json.dumps(listed))
        self.assertIn("cli-user", ctl("whoami", token=token).stdout)
        ctl("token", "revoke", listed[0]["id"])
        self.assertEqual(ctl("whoami", token=token, check=False).returncode, 5)
        self.assertIn("BEGIN CERTIFICATE", ctl("ca", "get", token=None).stdout)
        ctl("grant", "delete", "cli-grant")
        ctl("user", "delete", "cli-user")
        ctl("tenant", "delete", "cli")
        self.assertEqual(ctl("tenant", "delete", "cli", check=False).returncode, 3)
        # Unreachable server and missing configuration.
        env = {**os.environ, "KUBEHUB_SERVER": "https://127.0.0.1:1", "KUBEHUB_TOKEN": "x"}
        r = subprocess.run([e2e.binary("kubehubctl"), "tenant", "list"], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 6, r.stderr)
        env = {k: v for k, v in os.environ.items() if k != "KUBEHUB_SERVER"}
        r = subprocess.run([e2e.binary("kubehubctl"), "tenant", "list"], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--server", r.stderr)

    def test_bootstrap_token_csr_certificate(self):
        ctl = self.env.ctl
        work = self.env.work
        ctl("cluster", "create", "boot-edge")
        human = ctl("cluster", "bootstrap", "boot-edge").stdout
        self.assertIn("bootstrapToken: khb_", human)
        boot = json.loads(ctl("cluster", "bootstrap", "boot-edge", "--ttl", "10m", "-o", "json").stdout)
        self.assertTrue(boot["token"].startswith("khb_"))
        key, csr = work.join("agent.key"), work.join("agent.csr")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-subj", "/CN=boot-edge", "-out", csr], check=True, capture_output=True)
        wrong_csr = work.join("wrong.csr")
        subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=someone-else", "-out", wrong_csr],
                       check=True, capture_output=True)
        # A bad CSR is refused (422) without burning the token.
        r = ctl("cluster", "certificate", "boot-edge", "--csr", wrong_csr, token=boot["token"], check=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("does not match", r.stderr)
        # The token is for one cluster only.
        ctl("cluster", "create", "boot-other")
        r = ctl("cluster", "certificate", "boot-other", "--csr", csr, token=boot["token"], check=False)
        self.assertEqual(r.returncode, 5, r.stderr)
        ca = work.join("tunnel-ca.crt")
        r = ctl("cluster", "certificate", "boot-edge", "--csr", csr, "--ca-out", ca, token=boot["token"])
        crt = work.join("agent.crt")
        with open(crt, "w") as f:
            f.write(r.stdout)
        status, _, published = self.ms.request("GET", "/api/v1/ca.crt")
        self.assertEqual(status, 200)
        with open(ca, "rb") as f:
            self.assertEqual(f.read(), published)
        v = subprocess.run(["openssl", "verify", "-CAfile", ca, "-purpose", "sslclient", crt], capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        subj = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-subject"], capture_output=True, text=True).stdout
        self.assertIn("CN = boot-edge", subj)
        # The certificate holds the agent's own public key (its private key never left it).
        pub_cert = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-pubkey"], capture_output=True, text=True).stdout
        pub_key = subprocess.run(["openssl", "pkey", "-in", key, "-pubout"], capture_output=True, text=True).stdout
        self.assertEqual(pub_cert, pub_key)
        # Single use.
        r = ctl("cluster", "certificate", "boot-edge", "--csr", csr, token=boot["token"], check=False)
        self.assertEqual(r.returncode, 5)
        self.assertIn("already used", r.stderr)
        # The database fails while the certificate is recorded: the token is not used up, and
        # the agent's retry enrols (it was 503, then 403 "already used" for ever).
        ctl("cluster", "create", "boot-fail")
        failing = json.loads(ctl("cluster", "bootstrap", "boot-fail", "-o", "json").stdout)
        fail_csr = work.join("fail.csr")
        subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=boot-fail", "-out", fail_csr],
                       check=True, capture_output=True)
        self.env.pg.psql(
            "CREATE FUNCTION e2e_fail_certificate() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN RAISE EXCEPTION 'injected failure' USING ERRCODE = '08006'; END$$; "
            "CREATE TRIGGER e2e_fail_certificate BEFORE INSERT ON certificates FOR EACH ROW "
            "WHEN (NEW.subject = 'boot-fail') EXECUTE FUNCTION e2e_fail_certificate()")
        try:
            r = ctl("cluster", "certificate", "boot-fail", "--csr", fail_csr, token=failing["token"], check=False)
            self.assertEqual(r.returncode, 6, r.stderr)
            self.assertIn("database unavailable", r.stderr)
        finally:
            self.env.pg.psql("DROP TRIGGER e2e_fail_certificate ON certificates; DROP FUNCTION e2e_fail_certificate()")
        r = ctl("cluster", "certificate", "boot-fail", "--csr", fail_csr, token=failing["token"], check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("BEGIN CERTIFICATE", r.stdout)
        r = ctl("cluster", "certificate", "boot-fail", "--csr", fail_csr, token=failing["token"], check=False)
        self.assertEqual(r.returncode, 5, r.stderr)
        # An admin may sign directly; a hub gets a serving certificate with its SANs.
        self.assertIn("BEGIN CERTIFICATE", ctl("cluster", "certificate", "boot-edge", "--csr", csr).stdout)
        hub_csr = work.join("hub.csr")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", work.join("hub.key"), "-subj", "/CN=hub-7", "-out", hub_csr],
                       check=True, capture_output=True)
        with open(hub_csr) as f:
            _, hc = self.api("POST", "/api/v1/hubs/hub-7/certificate",
                             {"csr": f.read(), "dnsNames": ["hub-7.example.test"], "ipAddresses": ["127.0.0.1"]},
                             expect=201)
        hub_crt = work.join("hub.crt")
        with open(hub_crt, "w") as f:
            f.write(hc["certificate"])
        v = subprocess.run(["openssl", "verify", "-CAfile", ca, "-purpose", "sslserver", hub_crt], capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        text = subprocess.run(["openssl", "x509", "-in", hub_crt, "-noout", "-text"], capture_output=True, text=True).stdout
        self.assertIn("DNS:hub-7.example.test", text)
        self.assertIn("IP Address:127.0.0.1", text)
        self.error("POST", "/api/v1/clusters/boot-edge/certificate", {"csr": "garbage"}, expect=422)
        self.error("POST", "/api/v1/clusters/boot-edge/bootstrap", {"ttl": "9999h"}, expect=422)
        self.error("POST", "/api/v1/clusters/ghost/bootstrap", {}, expect=404)

    def test_registry_heartbeats_connections_and_expiry(self):
        self.api("POST", "/api/v1/tenants", {"name": "reg"}, expect=201)
        self.api("POST", "/api/v1/users", {"name": "hub-a", "tenant": "reg", "roles": ["hub"]}, expect=201)
        hub = self.env.issue("hub-a")["token"]  # a hub's token acts for the hub named like its user
        self.api("POST", "/api/v1/clusters", {"name": "reg-edge"}, expect=201)
        self.assertIn("not registered",
                      self.error("PUT", "/api/v1/clusters/reg-edge/connection", {"hub": "hub-a"}, token=hub, expect=404))
        beat = {"addresses": {"users": "https://hub-a:8443", "peer": "hub-a:8445"}, "agents": 1, "load": 0.25,
                "version": "0.1.0", "instance": "first"}
        _, h = self.api("PUT", "/api/v1/hubs/hub-a", beat, token=hub, expect=200)
        self.assertTrue(h["alive"])
        self.api("PUT", "/api/v1/clusters/reg-edge/connection", {"hub": "hub-a"}, token=hub, expect=200)
        _, ep = self.api("GET", "/api/v1/clusters/reg-edge/endpoints", token=hub, expect=200)
        self.assertEqual([e["hub"] for e in ep["endpoints"]], ["hub-a"])
        self.assertEqual(ep["endpoints"][0]["addresses"]["peer"], "hub-a:8445")
        _, cl = self.api("GET", "/api/v1/clusters/reg-edge", expect=200)
        self.assertEqual((cl["status"]["state"], cl["status"]["hubs"]), ("connected", ["hub-a"]))
        self.assertIn("hub-a", self.env.ctl("hub", "list").stdout)
        self.assertIn("hub-a", self.env.ctl("cluster", "endpoints", "reg-edge").stdout)
        # The routing table: live hubs, and the hubs holding each cluster; 304 while unchanged.
        status, headers, body = self.env.ms.request("GET", "/api/v1/routes", token=hub)
        self.assertEqual(status, 200)
        routes = json.loads(body)
        self.assertIn({"cluster": "reg-edge", "hubs": ["hub-a"]}, routes["routes"])
        self.assertEqual([h["id"] for h in routes["hubs"] if h["id"] == "hub-a"], ["hub-a"])
        etag = headers["etag"]
        self.api("PUT", "/api/v1/hubs/hub-a", beat, token=hub, expect=200)
        status, _, _ = self.env.ms.request("GET", "/api/v1/routes", token=hub, headers={"If-None-Match": etag})
        self.assertEqual(status, 304, "a heartbeat changes no route")
        _, ep = self.api("GET", "/api/v1/clusters/reg-edge/endpoints", token=hub, expect=200)
        self.assertEqual([e["hub"] for e in ep["endpoints"]], ["hub-a"])
        # A hub process that restarts (a new instance id) before its registration expired loses
        # the connections its predecessor reported: they died with it.
        self.api("PUT", "/api/v1/hubs/hub-a", {**beat, "instance": "second"}, token=hub, expect=200)
        _, ep = self.api("GET", "/api/v1/clusters/reg-edge/endpoints", token=hub, expect=200)
        self.assertEqual(ep["endpoints"], [])
        status, _, _ = self.env.ms.request("GET", "/api/v1/routes", token=hub, headers={"If-None-Match": etag})
        self.assertEqual(status, 200, "the route is gone")
        self.api("PUT", "/api/v1/clusters/reg-edge/connection", {"hub": "hub-a"}, token=hub, expect=200)
        # Draining is an admin's call, kept by heartbeats, shown in the routing table.
        self.error("POST", "/api/v1/hubs/hub-a/drain", {}, token=hub, expect=403)
        _, h = self.api("POST", "/api/v1/hubs/hub-a/drain", {"reason": "kernel upgrade"}, expect=200)
        self.assertEqual((h["draining"], h["drainReason"]), (True, "kernel upgrade"))
        self.api("PUT", "/api/v1/hubs/hub-a", {**beat, "instance": "second"}, token=hub, expect=200)
        _, body = self.api("GET", "/api/v1/routes", token=hub, expect=200)
        self.assertEqual([h["draining"] for h in body["hubs"] if h["id"] == "hub-a"], [True])
        self.assertIn("true", self.env.ctl("hub", "list").stdout)
        self.env.ctl("hub", "undrain", "hub-a")
        _, h = self.api("GET", "/api/v1/hubs/hub-a", token=hub, expect=200)
        self.assertFalse(h["draining"])
        self.error("POST", "/api/v1/hubs/no-such-hub/drain", {}, expect=404)
        # Disconnect, reconnect, then let the heartbeat expire (--registry-ttl 2s).
        self.api("DELETE", "/api/v1/clusters/reg-edge/connection?hub=hub-a", token=hub, expect=204)
        self.error("DELETE", "/api/v1/clusters/reg-edge/connection?hub=hub-a", token=hub, expect=404)
        _, cl = self.api("GET", "/api/v1/clusters/reg-edge", expect=200)
        self.assertEqual(cl["status"]["state"], "disconnected")
        self.assertIsNotNone(cl["status"]["lastSeen"])
        self.api("PUT", "/api/v1/hubs/hub-a", {}, token=hub, expect=200)
        self.api("PUT", "/api/v1/clusters/reg-edge/connection", {"hub": "hub-a"}, token=hub, expect=200)
        e2e.wait_until(lambda: self.api("GET", "/api/v1/clusters/reg-edge/endpoints", token=hub)[1]["endpoints"] == [],
                       timeout=10, interval=0.2, what="registry expiry")
        _, hubs = self.api("GET", "/api/v1/hubs", token=hub, expect=200)
        self.assertNotIn("hub-a", [x["id"] for x in hubs["items"]])
        _, hubs = self.api("GET", "/api/v1/hubs?all=true", token=hub, expect=200)
        self.assertIn("hub-a", [x["id"] for x in hubs["items"]])
        # A disabled (banned) cluster's agent is refused.
        self.api("PATCH", "/api/v1/clusters/reg-edge", {"disabled": True}, expect=200)
        self.api("PUT", "/api/v1/hubs/hub-a", {}, token=hub, expect=200)
        self.assertIn("disabled", self.error("PUT", "/api/v1/clusters/reg-edge/connection", {"hub": "hub-a"},
                                             token=hub, expect=409))
        self.error("PUT", "/api/v1/hubs/Bad_Hub", {}, token=hub, expect=422)
        self.error("PUT", "/api/v1/hubs/hub-a", {"agents": "many"}, token=hub, expect=400)
        self.api("DELETE", "/api/v1/hubs/hub-a", token=hub, expect=204)

    def test_audit_log_records_mutations_without_secrets(self):
        self.api("POST", "/api/v1/tenants", {"name": "aud"}, expect=201)
        self.api("POST", "/api/v1/users", {"name": "aud-user", "tenant": "aud"}, expect=201)
        issued = self.env.issue("aud-user")
        self.error("POST", "/api/v1/tenants", {"name": "aud"}, expect=409)
        rows = self.env.pg.psql("SELECT actor || '|' || action || '|' || resource || '|' || status || '|' || detail"
                                " FROM audit_log WHERE detail LIKE '%aud%' OR resource LIKE '%aud%' ORDER BY id")
        self.assertIn("admin(bootstrap)|POST createTenant|/api/v1/tenants|201|tenant=aud", rows)
        self.assertIn("POST createTenant|/api/v1/tenants|409|tenant \"aud\" already exists", rows)
        self.assertIn(f"token_id={issued['id']} user=aud-user", rows)
        _, api_rows = self.api("GET", "/api/v1/audit?limit=50", expect=200)
        self.assertTrue(any(r["detail"] == "tenant=aud" and r["status"] == 201 for r in api_rows["items"]))
        dump = self.env.pg.psql("SELECT string_agg(actor || detail || resource, ' ') FROM audit_log")
        log = self.ms.proc.log_text()
        for secret in [issued["token"], ADMIN]:
            self.assertNotIn(secret, dump)
            self.assertNotIn(secret, log)
        self.assertNotIn(issued["token"], self.env.pg.psql("SELECT string_agg(token_hash, ' ') FROM tokens"))
        self.assertIn('msg=audit actor=admin(bootstrap) action="POST createTenant" resource=/api/v1/tenants status=201', log)
        # Every audited call is recorded, also one naming bytes that are not UTF-8 or a name whose
        # message would be cut inside a character (PostgreSQL refused those rows, which were lost).
        self.error("DELETE", "/api/v1/tenants/%ff", expect=422)
        self.error("POST", "/api/v1/tenants", {"name": "a" + "\u00e9" * 50}, expect=422)
        rows = self.env.pg.psql("SELECT action || '|' || resource || '|' || status || '|' || detail FROM audit_log"
                                " WHERE status = 422 AND action IN ('DELETE deleteTenant', 'POST createTenant')")
        self.assertIn('DELETE deleteTenant|/api/v1/tenants/%ff|422|tenant name "\\xff" is invalid', rows)
        self.assertIn('POST createTenant|/api/v1/tenants|422|tenant name "a' + "\u00e9" * 39 + '" is invalid', rows)

    def test_openapi_health_and_metrics(self):
        status, doc = self.api("GET", "/openapi.json", token=None, expect=200)
        self.assertTrue(doc["openapi"].startswith("3."))
        self.assertIn("/api/v1/users/{user}/kubeconfig", doc["paths"])
        for path, code in [("/healthz", 200), ("/readyz", 200)]:
            s, _, _ = self.ms.request("GET", path, server="admin")
            self.assertEqual(s, code)
        s, _, metrics = self.ms.request("GET", "/metrics", server="admin")
        self.assertEqual(s, 200)
        self.assertIn(b'kubehub_metaserver_requests_total{code="200",operation="getOpenApi"}', metrics)
        self.assertIn(b"kubehub_metaserver_db_connections", metrics)


def e2e_quote(s):
    import urllib.parse
    return urllib.parse.quote(s, safe="")


class ClusterStatusTest(FleetTestCase):
    """The real system: PostgreSQL + metaserver, one hub, the stand-in's three nodes (one
    NotReady, allocatable "2"/"8028620Ki" twice and "3500m"/"16Gi") and two agents, one of them
    refused the node list by its API server. The reports reach the registry, kubehubctl and the
    hub's metrics; when an agent stops, its cluster shows disconnected with its last report."""

    @classmethod
    def start_fleet(cls, fleet):
        fleet.start_platform()
        fleet.admit(["status-edge", "status-blind"])
        cls.hub = fleet.start_hub("hub-1", peer=False)
        fleet.start_agent("status-edge", cls.hub)
        fleet.start_agent("status-blind", cls.hub, standin_extra=["--forbid", "list:nodes"])

    def cluster(self, name):
        return self.fleet.platform.ctl_json("cluster", "get", name)

    def reported(self, name, predicate=lambda c: True):
        """The cluster once it is connected with a report that satisfies `predicate`."""
        got = {}

        def ready():
            c = self.cluster(name)
            got["c"] = c
            return c["status"]["connected"] and c["status"]["report"] is not None and predicate(c)
        e2e.wait_until(ready, timeout=30, interval=0.2, what=f"{name}'s status report")
        return got["c"]

    def test_report_reaches_registry_and_kubehubctl(self):
        c = self.reported("status-edge", lambda c: "resources" in c["status"]["report"])
        st = c["status"]
        self.assertEqual(st["state"], "connected")
        self.assertEqual(st["hubs"], ["hub-1"])
        self.assertEqual(st["reportedBy"], "hub-1")
        self.assertIsNotNone(st["since"])
        self.assertIsNotNone(st["reportedAt"])
        self.assertGreaterEqual(st["lastSeen"], st["since"], "seen at least since it connected")
        self.assertGreaterEqual(st["lastSeen"], st["reportedAt"], "a report is a sighting")
        r = st["report"]
        self.assertEqual(r["kubernetes"], {"gitVersion": "v1.32.4", "platform": "linux/amd64"})
        self.assertEqual(r["nodes"]["total"], 3)
        self.assertEqual(r["nodes"]["ready"], 2)
        self.assertEqual(r["nodes"]["allocatable"]["cpuMillis"], 2000 + 2000 + 3500)
        self.assertEqual(r["nodes"]["allocatable"]["memoryBytes"], 2 * 8028620 * 1024 + 16 * 2**30)
        self.assertNotIn("nodesError", r)
        self.assertEqual(r["agent"]["version"], "0.1.0")
        self.assertGreaterEqual(r["agent"]["uptimeSeconds"], 0)
        self.assertGreater(r["resources"]["served"], 10)
        # Exactly what the edge says about its nodes, read directly.
        nodes = self.fleet.edge_json("status-edge", "/api/v1/nodes")["items"]
        self.assertEqual(len(nodes), r["nodes"]["total"])
        # The REST resource itself, as an admin reads it.
        _, rest = self.fleet.platform.meta.json("GET", "/api/v1/clusters/status-edge",
                                                token=self.fleet.platform.admin_token, expect=200)
        self.assertEqual(rest["status"]["report"]["nodes"], r["nodes"])
        # kubehubctl: the table's columns, and every field in `get`.
        table = self.fleet.platform.ctl("cluster", "list").stdout.splitlines()
        self.assertEqual(table[0].split(), ["NAME", "CONNECTED", "KIND", "HUBS", "SINCE", "LAST-SEEN",
                                            "VERSION", "NODES", "CPU", "MEMORY", "AGENT", "LABELS"])
        row = next(line.split() for line in table if line.startswith("status-edge "))
        # The nodes' allocatable summed: 2 + 2 + 3.5 cores; 2 x 8028620Ki + 16Gi.
        self.assertEqual((row[1], row[2], row[3], row[6], row[7], row[8], row[9], row[10]),
                         ("yes", "kubernetes", "hub-1", "v1.32.4", "2/3", "7.5",
                          "%.1fGiB" % ((2 * 8028620 * 1024 + 16 * 2**30) / 2**30), "0.1.0"))
        text = self.fleet.platform.ctl("cluster", "get", "status-edge").stdout
        self.assertIn("status.report.nodes.ready: 2\n", text)
        self.assertIn("status.report.nodes.total: 3\n", text)
        self.assertIn("status.report.kubernetes.gitVersion: v1.32.4\n", text)
        self.assertIn("status.report.agent.version: 0.1.0\n", text)
        self.assertIn("status.connected: true\n", text)
        # The hub's metrics.
        self.assertEqual(metric(self.hub, "kubehub_hub_cluster_nodes", cluster="status-edge", state="ready"), 2)
        self.assertEqual(metric(self.hub, "kubehub_hub_cluster_nodes", cluster="status-edge", state="notready"), 1)
        self.assertEqual(metric(self.hub, "kubehub_hub_cluster_info", cluster="status-edge", kind="kubernetes",
                                kubernetes_version="v1.32.4", agent_version="0.1.0"), 1)

    def test_hub_adds_its_cached_types_and_counts(self):
        """The agent caches nothing; the hub holding the tunnel adds what it caches of the
        cluster, per type, to the report it forwards, and again once the types have synced."""
        edge_pods = lambda: len(self.fleet.edge_json("status-edge", "/api/v1/pods")["items"])

        def types(c):
            return {t["resource"]: t for t in (c["status"]["report"].get("cache") or {}).get("types", [])}

        def pods_synced(c):
            pods = types(c).get("pods")
            return pods is not None and pods["synced"] and pods["objects"] == edge_pods()
        c = self.reported("status-edge", pods_synced)
        cache, by = c["status"]["report"]["cache"], types(c)
        self.assertEqual(by["pods"]["objects"], edge_pods(), "the count the stand-in holds")
        self.assertGreater(by["pods"]["objects"], 0)
        self.assertEqual(by["pods"]["version"], "v1")
        self.assertEqual(by["deployments.apps"]["version"], "v1")
        self.assertEqual(by["namespaces"]["objects"],
                         len(self.fleet.edge_json("status-edge", "/api/v1/namespaces")["items"]))
        self.assertFalse(cache["truncated"])
        self.assertEqual(cache["typeCount"], len(cache["types"]))
        self.assertLessEqual(cache["syncedTypes"], cache["typeCount"])
        self.assertEqual(cache["objects"], sum(t["objects"] for t in cache["types"]))
        counts = [t["objects"] for t in cache["types"]]
        self.assertEqual(counts, sorted(counts, reverse=True), "largest first")
        self.assertEqual(c["status"]["cachedObjects"], cache["objects"], "the total in the REST object")
        # kubehubctl cluster get: the totals, then a table of the types.
        text = self.fleet.platform.ctl("cluster", "get", "status-edge").stdout
        self.assertIn("status.report.cache.typeCount: %d\n" % cache["typeCount"], text)
        self.assertIn("status.report.cache.types:\n  RESOURCE", text)
        self.assertRegex(text, r"\n  pods +v1 +%d +true\n" % by["pods"]["objects"])

    def test_forbidden_node_list_is_reported_not_invented(self):
        c = self.reported("status-blind")
        r = c["status"]["report"]
        self.assertNotIn("nodes", r)
        self.assertIn("forbidden", r["nodesError"])
        self.assertEqual(r["kubernetes"]["gitVersion"], "v1.32.4")
        row = next(line.split() for line in self.fleet.platform.ctl("cluster", "list").stdout.splitlines()
                   if line.startswith("status-blind "))
        self.assertEqual(row[7], "-")
        log = self.fleet.agents["status-blind"].proc.log_text()
        self.assertEqual(log.count("cannot list nodes"), 1, "logged once, not at every check")
        self.assertEqual(metric(self.hub, "kubehub_hub_cluster_nodes", cluster="status-blind", state="ready"), 0)

    def test_stopped_agent_shows_disconnected_with_last_report(self):
        self.reported("status-edge")
        self.fleet.agents["status-edge"].proc.stop()
        e2e.wait_until(lambda: not self.cluster("status-edge")["status"]["connected"], timeout=30, interval=0.2,
                       what="status-edge disconnected")
        st = self.cluster("status-edge")["status"]
        self.assertEqual((st["state"], st["hubs"], st["since"]), ("disconnected", [], None))
        self.assertIsNotNone(st["lastSeen"])
        self.assertIsNotNone(st["reportedAt"])
        self.assertEqual(st["report"]["nodes"]["total"], 3, "the last report is kept")
        row = next(line.split() for line in self.fleet.platform.ctl("cluster", "list").stdout.splitlines()
                   if line.startswith("status-edge "))
        self.assertEqual(row[1], "no")
        self.assertNotEqual(row[5], "-", "LAST-SEEN")
        e2e.wait_until(lambda: metric(self.hub, "kubehub_hub_cluster_info", cluster="status-edge") == 0,
                       timeout=10, what="the cluster's series removed with its tunnel")
        self.fleet.restart_agent("status-edge")
        self.reported("status-edge")

    def test_agent_status_flags(self):
        base = [e2e.binary("kubehub-agent"), "--hub-url", "wss://127.0.0.1:1/tunnel", "--cluster", "c",
                "--tls-cert", "/nonexistent.crt", "--tls-key", "/nonexistent.key"]
        for extra, needle in ((["--status-interval", "5s"], "--status-interval must be at least 10s"),
                              (["--status-check-interval", "100ms"], "--status-check-interval must be at least 1s")):
            r = subprocess.run(base + extra, capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn(needle, r.stderr)
        usage = subprocess.run([e2e.binary("kubehub-agent"), "--help"], capture_output=True, text=True).stdout
        self.assertIn("--status-interval", usage)
        self.assertIn("--status-check-interval", usage)

    def test_hub_refuses_reports_for_clusters_it_does_not_hold(self):
        p = self.fleet.platform
        token_file = self.fleet.work.join("hub-1.token")
        with open(token_file) as f:
            hub_token = f.read().strip()
        report = {"agent": {"version": "9.9.9", "uptimeSeconds": 1}}
        _, body = p.meta.json("POST", "/api/v1/hubs/hub-1/cluster-status",
                              {"reports": [{"cluster": "nowhere", "report": report}]}, token=hub_token, expect=200)
        self.assertEqual((body["stored"], body["skipped"]), (0, ["nowhere"]))
        p.meta.json("POST", "/api/v1/hubs/hub-2/cluster-status", {"reports": []}, token=hub_token, expect=403)
        bad = {"reports": [{"cluster": "status-edge", "report": {"agent": {"version": 5, "uptimeSeconds": 1}}}]}
        status, _, text = p.meta.request("POST", "/api/v1/hubs/hub-1/cluster-status", bad, token=hub_token)
        self.assertEqual(status, 422, text)
        self.assertIn("agent.version", text.decode())


class PostgresRestartTest(unittest.TestCase):
    """PostgreSQL restarts under load: requests fail with 503 while it is down and succeed again
    as soon as it is back, without restarting the metaserver."""

    def test_postgres_restart_mid_traffic(self):
        env = Env()
        try:
            env.api("POST", "/api/v1/tenants", {"name": "before"}, expect=201)
            pid = env.ms.proc.proc.pid
            statuses = []
            stop = threading.Event()

            def traffic():
                while not stop.is_set():
                    s, j = env.api("GET", "/api/v1/tenants")
                    statuses.append((s, j))
                    stop.wait(0.02)

            threads = [threading.Thread(target=traffic) for _ in range(4)]
            for t in threads:
                t.start()
            try:
                e2e.wait_until(lambda: len(statuses) > 10, timeout=10, what="traffic")
                env.pg.stop("fast")
                mark = len(statuses)
                e2e.wait_until(lambda: any(s == 503 for s, _ in statuses[mark:]), timeout=10, what="503 while down")
                s, j = env.api("POST", "/api/v1/tenants", {"name": "during"})
                self.assertEqual(s, 503)
                self.assertIn("database unavailable", j["error"]["message"])
                s, _, body = env.ms.request("GET", "/readyz", server="admin")
                self.assertEqual(s, 503, body)
                env.pg.start()
                restarted = time.monotonic()
                mark = len(statuses)
                e2e.wait_until(lambda: any(s == 200 for s, _ in statuses[mark:]), timeout=10, what="serving again")
                self.assertLess(time.monotonic() - restarted, 5)
            finally:
                stop.set()
                for t in threads:
                    t.join(timeout=30)
            self.assertTrue(all(s in (200, 503) for s, _ in statuses), {s for s, _ in statuses})
            env.api("POST", "/api/v1/tenants", {"name": "after"}, expect=201)
            _, lst = env.api("GET", "/api/v1/tenants", expect=200)
            self.assertEqual([t["name"] for t in lst["items"]], ["after", "before"])
            s, _, _ = env.ms.request("GET", "/readyz", server="admin")
            self.assertEqual(s, 200)
            self.assertEqual(env.ms.proc.proc.pid, pid)
            self.assertIsNone(env.ms.proc.proc.poll())
            self.assertIn("database reachable again", env.ms.proc.log_text())
        finally:
            env.close()


class ConcurrentStartTest(unittest.TestCase):
    """Two metaservers starting at once on one empty database: migrations applied once, one
    signing key and one CA, and tokens from one verify on the other."""

    def test_two_metaservers_start_at_once(self):
        work = e2e.Workdir(prefix="kubehub-meta-e2e-")
        pg = None
        servers = []
        try:
            pg = e2e.Postgres()
            for name in ("ms-a", "ms-b"):
                servers.append(e2e.Metaserver(work, pg.conninfo, name=name, admin_token=ADMIN, wait=False))
            for s in servers:
                s.wait_ready()
            migrations = sorted(os.listdir(os.path.join(os.path.dirname(__file__), "..", "metaserver", "store",
                                                        "migrations")))
            self.assertEqual(pg.psql("SELECT count(*) FROM kubehub_schema_migrations"), str(len(migrations)))
            applied = sum(s.proc.log_text().count('msg="applied migration"') for s in servers)
            self.assertEqual(applied, len(migrations))
            self.assertEqual(pg.psql("SELECT count(*) FROM signing_keys"), "1")
            self.assertEqual(pg.psql("SELECT count(*) FROM certificate_authority"), "1")
            a, b = servers
            a.json("POST", "/api/v1/tenants", {"name": "shared"}, token=ADMIN, expect=201)
            a.json("POST", "/api/v1/users", {"name": "u", "tenant": "shared"}, token=ADMIN, expect=201)
            _, t = a.json("POST", "/api/v1/tokens", {"user": "u"}, token=ADMIN, expect=201)
            _, who = b.json("GET", "/api/v1/whoami", token=t["token"], expect=200)
            self.assertEqual(who["user"], "u")
            # A restart finds everything applied.
            a.stop()
            again = e2e.Metaserver(work, pg.conninfo, name="ms-c", admin_token=ADMIN)
            servers.append(again)
            self.assertIn("applied=0", again.proc.log_text())
        finally:
            for s in servers:
                s.stop()
            if pg:
                pg.close()
            work.close()


class StartupErrorsTest(unittest.TestCase):
    """Bad configuration fails at start with one clear line and exit code 2."""

    def run_ms(self, *args, env=None):
        return subprocess.run([e2e.binary("kubehub-metaserver"), *args], capture_output=True, text=True, timeout=60,
                              env={**os.environ, **(env or {})})

    def test_bad_configuration(self):
        cases = [
            ((), "--database-url is required"),
            (("--database-url", "host=/nonexistent", "--listen", "nonsense"), "--tls-cert and --tls-key are required"),
            (("--database-url", "postgresql://%zz", "--insecure-http"), "invalid database URL"),
            (("--database-url", "host=/x", "--insecure-http", "--bogus"), "unknown flag --bogus"),
            (("--database-url", "host=/x", "--insecure-http", "--hub-url", "http://hub"), "--hub-url must be an https"),
            (("--database-url", "host=/x", "--insecure-http", "--admin-token", "short"), "at least 16 characters"),
            (("--database-url", "host=/x", "--insecure-http", "--registry-ttl", "soon"), "invalid duration"),
            # A default every bootstrap request would then be refused for.
            (("--database-url", "host=/x", "--insecure-http", "--bootstrap-ttl", "200h"), "--bootstrap-ttl must be at most 168h"),
        ]
        for args, needle in cases:
            r = self.run_ms(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn(needle, r.stderr)
        r = self.run_ms("--database-url", "host=/nonexistent-dir user=x", "--insecure-http", "--db-wait", "300ms")
        self.assertEqual(r.returncode, 2)
        self.assertIn("database unavailable", r.stderr.strip().splitlines()[-1])
        self.assertEqual(self.run_ms("--help").returncode, 0)
        r = self.run_ms(env={"KUBEHUB_DATABASE_URL": "host=/x", "KUBEHUB_INSECURE_HTTP": "maybe"})
        self.assertEqual(r.returncode, 2)
        self.assertIn("KUBEHUB_INSECURE_HTTP", r.stderr)


if __name__ == "__main__":
    unittest.main()
