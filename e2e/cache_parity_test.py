"""Invalid LIST and WATCH queries through the hub's cache path get the API server's own
answer: each query is sent once to the edge stand-in directly and once through the hub, and
both must give the same status code, reason and message (400 BadRequest for what cannot be
decoded, 422 Invalid for forbidden combinations). Queries the hub evaluates itself must be
answered by the cache (X-Kubehub-Served-From: cache); the rest are forwarded and the edge
words them."""
import http.client
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
import cache_test  # noqa: E402  (its Endpoint and cache-state helpers)

USER_TOKEN = "parity-user-token-0123456789"
EDGE_TOKEN = "parity-edge-token-0123456789"

PODS = "/api/v1/namespaces/default/pods"
CACHE, EDGE = "cache", None

# (path and query, expected status, who answers through the hub)
CASES = [
    # label selectors the API server refuses: invalid DNS prefixes, syntax, values
    (PODS + "?labelSelector=-x.io/k%3Dv", 400, CACHE),
    (PODS + "?labelSelector=x..io/k%3Dv", 400, CACHE),
    (PODS + "?labelSelector=A.io/k", 400, CACHE),
    (PODS + "?labelSelector=a/b/c", 400, CACHE),
    (PODS + "?labelSelector=app+in+(web", 400, CACHE),
    (PODS + "?labelSelector=app+in+web", 400, CACHE),
    (PODS + "?labelSelector=a+b", 400, CACHE),
    (PODS + "?labelSelector=app%3Dweb,", 400, CACHE),
    (PODS + "?labelSelector=!", 400, CACHE),
    (PODS + "?labelSelector=n>x", 400, CACHE),
    (PODS + "?labelSelector=n>-1", 400, CACHE),
    (PODS + "?labelSelector=app%3D-x", 400, CACHE),
    (PODS + "?labelSelector=app%3D" + "v" * 64, 400, CACHE),
    # field selectors
    (PODS + "?fieldSelector=nonsense", 400, CACHE),
    (PODS + "?fieldSelector=metadata.name%3Da%3Db", 400, CACHE),
    (PODS + "?fieldSelector=metadata.name%3Da%5Cb", 400, CACHE),
    (PODS + "?fieldSelector=metadata.name%3Da%5C", 400, CACHE),
    (PODS + "?fieldSelector=metadata.name%3Da,zz", 400, CACHE),
    ("/api/v1/namespaces/default/configmaps?fieldSelector=spec.nodeName%3Dx", 400, EDGE),
    # numbers
    (PODS + "?timeoutSeconds=abc", 400, CACHE),
    (PODS + "?limit=abc", 400, CACHE),
    (PODS + "?limit=1.5", 400, CACHE),
    (PODS + "?limit=99999999999999999999", 400, CACHE),
    (PODS + "?limit=", 400, CACHE),
    (PODS + "?limit=-1", 200, CACHE),
    (PODS + "?limit=x&timeoutSeconds=y", 400, CACHE),
    # continue tokens the hub did not issue: the edge's words
    (PODS + "?limit=1&continue=bm90LWEtdG9rZW4", 400, EDGE),
    (PODS + "?limit=1&continue=kh1.%25%25", 400, EDGE),
    # resourceVersionMatch and sendInitialEvents on a list
    (PODS + "?resourceVersionMatch=NotOlderThan", 422, CACHE),
    (PODS + "?resourceVersionMatch=Exact&resourceVersion=0", 422, CACHE),
    (PODS + "?resourceVersionMatch=Foo&resourceVersion=1", 422, CACHE),
    (PODS + "?resourceVersionMatch=Foo", 422, CACHE),
    (PODS + "?resourceVersionMatch=NotOlderThan&resourceVersion=1&continue=x", 422, CACHE),
    (PODS + "?sendInitialEvents=true", 422, CACHE),
    (PODS + "?sendInitialEvents=false&resourceVersion=0", 422, CACHE),
    # watches with bad options
    (PODS + "?watch=1&timeoutSeconds=abc", 400, CACHE),
    (PODS + "?watch=true&labelSelector=x..io/k%3Dv", 400, CACHE),
    (PODS + "?watch=1&limit=abc", 400, CACHE),
    (PODS + "?watch=1&fieldSelector=oops", 400, CACHE),
    (PODS + "?watch=1&sendInitialEvents=true", 422, CACHE),
    (PODS + "?watch=1&resourceVersion=1&resourceVersionMatch=NotOlderThan", 422, CACHE),
    (PODS + "?watch=1&resourceVersionMatch=Exact&sendInitialEvents=true", 422, CACHE),
    (PODS + "?watch=1&continue=abc", 422, CACHE),
    (PODS + "?watch=yes&resourceVersionMatch=Foo", 422, CACHE),
    ("/api/v1/watch/namespaces/default/pods/db-0?fieldSelector=metadata.name%3Dother", 400, CACHE),
    # a GET reads only resourceVersion: selectors are ignored
    (PODS + "/db-0?resourceVersion=0&labelSelector=-x.io/k%3Dv", 200, CACHE),
]


class CacheParityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workdir()
        cls.procs = []
        try:
            cls.pki = e2e.Pki(cls.work.join("pki"))
            cls.standin, cls.standin_url = e2e.start_standin(cls.work, cls.pki, EDGE_TOKEN)
            cls.procs.append(cls.standin)
            tokens = e2e.write_token_file(cls.work.join("tokens.csv"), [(USER_TOKEN, "dave", "u-4", [])])
            cls.hub = e2e.Hub(cls.work, cls.pki, tokens, extra=["--cache-resources", "defaults"])
            cls.procs.append(cls.hub.proc)
            kubeconfig = e2e.write_kubeconfig(cls.work.join("agent.kubeconfig"), cls.standin_url,
                                              cls.pki.ca_cert, token=EDGE_TOKEN)
            cls.agent = e2e.Agent(cls.work, cls.pki, "edge-1", cls.hub, kubeconfig)
            cls.procs.append(cls.agent.proc)
            cls.edge = cache_test.Endpoint(cls.standin_url, EDGE_TOKEN, cls.pki.ca_cert)
            cls.via = cache_test.Endpoint(cls.hub.cluster_url("edge-1"), USER_TOKEN, cls.pki.ca_cert)
            e2e.wait_until(lambda: all(cls.cache_state().get(r, {}).get("synced")
                                       for r in ("pods", "configmaps")),
                           timeout=30, what="pods and configmaps cached")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.procs):
            p.kill()
        cls.work.close()

    @classmethod
    def cache_state(cls):
        conn = http.client.HTTPConnection(*cls.hub.admin.rsplit(":", 1), timeout=10)
        conn.request("GET", "/debug/cache")
        data = json.loads(conn.getresponse().read())
        conn.close()
        return {t["resource"]: t for t in data["types"]}

    @staticmethod
    def answer(endpoint, path):
        status, headers, raw = endpoint.request("GET", path)
        return status, headers, (json.loads(raw) if status != 200 else None)

    def test_invalid_queries_get_the_api_servers_answer(self):
        for path, code, answered_by in CASES:
            with self.subTest(path=path):
                s_edge, _, b_edge = self.answer(self.edge, path)
                s_hub, h_hub, b_hub = self.answer(self.via, path)
                self.assertEqual(s_edge, code, f"the stand-in: {b_edge}")
                self.assertEqual(s_hub, s_edge, f"through the hub: {b_hub}")
                self.assertEqual(h_hub.get("x-kubehub-served-from"), answered_by)
                if code != 200:
                    for key in ("kind", "status", "reason", "message", "code", "details"):
                        self.assertEqual(b_hub.get(key), b_edge.get(key), key)


if __name__ == "__main__":
    unittest.main()
