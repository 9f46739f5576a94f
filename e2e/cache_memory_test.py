"""The hub cache's memory budget end to end (defect D5): many updates of a large ConfigMap at the
edge must not grow the hub without bound. The event window (history kept for watches resuming
from a resourceVersion) is bounded in bytes, counted in kubehub_hub_cache_bytes and in the
cluster's --cache-max-bytes budget, and let go of once a deleted object's history is evicted.
Updates are written at the edge (the stand-in) directly, as the edge's own controllers would."""
import http.client
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
from cache_test import Endpoint, read_events  # noqa: E402

USER_TOKEN = "memory-user-token-0123456789"
EDGE_TOKEN = "memory-edge-token-0123456789"
MIB = 1 << 20


def scrape(admin):
    conn = http.client.HTTPConnection(*admin.rsplit(":", 1), timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return text


def series(text, name, **labels):
    """The value of one series, or None when it is not exported."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(rf"{name}\{{(.*)\}} (\S+)$", line)
        if m and ",".join(sorted(m.group(1).split(","))) == want:
            return float(m.group(2))
    return None


rss_bytes = e2e.rss_bytes


def configmap(name, size, version):
    """A ConfigMap whose data is `size` bytes and differs per version."""
    payload = (f"{version:08d}" * (size // 8 + 1))[:size]
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"}, "data": {"payload": payload}}


class Cluster:
    """Stand-in + hub (configmaps cached) + agent, torn down by close()."""

    def __init__(self, hub_flags):
        self.work = e2e.Workdir()
        self.procs = []
        try:
            pki = e2e.Pki(self.work.join("pki"))
            # A short history at the edge: the stand-in's memory is not what is measured.
            standin, url = e2e.start_standin(self.work, pki, EDGE_TOKEN, extra=["--watch-window", "20"])
            self.procs.append(standin)
            tokens = e2e.write_token_file(self.work.join("tokens.csv"), [(USER_TOKEN, "carol", "u-3", [])])
            self.hub = e2e.Hub(self.work, pki, tokens, extra=["--cache-resources", "configmaps", *hub_flags])
            self.procs.append(self.hub.proc)
            kc = e2e.write_kubeconfig(self.work.join("agent.kubeconfig"), url, pki.ca_cert, token=EDGE_TOKEN)
            self.procs.append(e2e.Agent(self.work, pki, "edge-1", self.hub, kc).proc)
            self.edge = Endpoint(url, EDGE_TOKEN, pki.ca_cert)
            self.via = Endpoint(self.hub.cluster_url("edge-1"), USER_TOKEN, pki.ca_cert)
            e2e.wait_until(lambda: self.cache_state().get("configmaps", {}).get("synced"), timeout=30,
                           what="configmaps cached")
        except BaseException:
            self.close()
            raise

    def cache_state(self):
        conn = http.client.HTTPConnection(*self.hub.admin.rsplit(":", 1), timeout=10)
        conn.request("GET", "/debug/cache")
        data = json.loads(conn.getresponse().read())
        conn.close()
        return {t["resource"]: t for t in data["types"]}

    def write(self, method, body=None, name=None):
        path = "/api/v1/namespaces/default/configmaps" + (f"/{name}" if name else "")
        status, _, raw = self.edge.request(method, path, body)
        assert status in (200, 201), f"{method} {path}: {status} {raw[:300]}"
        return json.loads(raw)

    def edge_rv(self):
        return self.edge.get("/api/v1/namespaces/default/configmaps")[2]["metadata"]["resourceVersion"]

    def wait_caught_up(self):
        rv = self.edge_rv()
        e2e.wait_until(lambda: self.cache_state().get("configmaps", {}).get("resourceVersion") == rv,
                       timeout=60, what=f"hub cache at the edge's resourceVersion {rv}")

    def close(self):
        for p in reversed(self.procs):
            p.kill()
        self.work.close()


class CacheMemoryTest(unittest.TestCase):
    BUDGET = 16 * MIB          # --cache-max-bytes
    WINDOW_BYTES = BUDGET // 4  # the default --cache-window-bytes
    OBJECT = 512 * 1024
    UPDATES = 200               # 100 MB of versions without a byte bound

    def test_window_of_a_large_configmaps_updates_is_counted_bounded_and_freed(self):
        c = Cluster(["--cache-max-bytes", str(self.BUDGET), "--cache-window", "60"])
        try:
            pid = c.hub.proc.proc.pid
            c.write("POST", configmap("big", self.OBJECT, 0))
            c.wait_caught_up()
            rss_before = rss_bytes(pid)
            rvs = [c.write("PUT", configmap("big", self.OBJECT, v), name="big")["metadata"]["resourceVersion"]
                   for v in range(1, self.UPDATES + 1)]
            c.wait_caught_up()
            rss_after = rss_bytes(pid)
            text = scrape(c.hub.admin)
            labels = {"cluster": "edge-1", "resource": "configmaps"}
            total = series(text, "kubehub_hub_cache_bytes", **labels)
            window = series(text, "kubehub_hub_cache_window_bytes", **labels)
            events = series(text, "kubehub_hub_cache_window_events", **labels)
            print(f"\nafter {self.UPDATES} updates of {self.OBJECT} B: cache_bytes={total:.0f} "
                  f"window_bytes={window} window_events={events} hub RSS {rss_before / MIB:.1f} -> "
                  f"{rss_after / MIB:.1f} MiB", file=sys.stderr)
            # 100 MB went through; the hub keeps a bounded part of it (its 4 MiB window share and
            # the allocator's slack: ~5 MiB measured), not the 60 versions --cache-window allows
            # (~42 MiB measured when the window was bounded in events only).
            self.assertLess(rss_after - rss_before, 24 * MIB,
                            f"hub RSS grew {(rss_after - rss_before) / MIB:.1f} MiB")
            self.assertIsNotNone(window, "kubehub_hub_cache_window_bytes is not exported")
            # The window holds old versions (at least two of 512 KiB), never more than its share.
            self.assertGreaterEqual(window, 2 * self.OBJECT)
            self.assertLessEqual(window, self.WINDOW_BYTES)
            self.assertLess(events, 60, "the byte bound, not the event count, limited the window")
            # The total tells the truth: the current object plus the window, within the budget.
            self.assertGreaterEqual(total, window + self.OBJECT)
            self.assertLessEqual(total, self.BUDGET)
            self.assertEqual(series(text, "kubehub_hub_cache_budget_drops_total", cluster="edge-1"), 0)
            # Reads are still served from the cache (a consistent one: the newest version).
            status, headers, got = c.via.get("/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dbig")
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("x-kubehub-served-from"), "cache")
            self.assertEqual(got["items"][0]["data"]["payload"][:8], f"{self.UPDATES:08d}")
            # A watch resuming two versions back replays them; one from 20 versions back (inside
            # --cache-window, beyond the byte bound) is gone, as beyond the API server's window.
            conn, resp = c.via.watch(f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rvs[-3]}")
            replay = read_events(resp, 2)
            conn.close()
            self.assertEqual([e["type"] for e in replay], ["MODIFIED", "MODIFIED"])
            self.assertEqual(replay[-1]["object"]["metadata"]["resourceVersion"], rvs[-1])
            conn, resp = c.via.watch(f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rvs[-21]}")
            gone = read_events(resp, 1)[0]
            conn.close()
            self.assertEqual((gone["type"], gone["object"].get("code")), ("ERROR", 410))

            # Delete it, then enough small changes to push its history out of the window.
            c.write("DELETE", name="big")
            for i in range(60):
                c.write("POST", {"metadata": {"name": f"small-{i}", "namespace": "default"}, "data": {"i": str(i)}})
            c.wait_caught_up()
            text = scrape(c.hub.admin)
            total = series(text, "kubehub_hub_cache_bytes", **labels)
            window = series(text, "kubehub_hub_cache_window_bytes", **labels)
            print(f"after delete and 60 small creates: cache_bytes={total:.0f} window_bytes={window:.0f} "
                  f"hub RSS {rss_bytes(pid) / MIB:.1f} MiB", file=sys.stderr)
            self.assertLess(window, 64 * 1024, "the deleted object's history is still counted")
            self.assertLess(total, 1 * MIB)
        finally:
            c.close()

    def test_window_bytes_count_against_the_budget(self):
        # Objects of 700 KB: the current one plus two old versions in the window exceed 2 MB,
        # the current one alone does not.
        budget = 2_000_000
        c = Cluster(["--cache-max-bytes", str(budget), "--cache-window-bytes", str(budget)])
        try:
            start = len(c.hub.proc.log_text())
            c.write("POST", configmap("big", 700_000, 0))
            for v in range(1, 6):
                c.write("PUT", configmap("big", 700_000, v), name="big")
            c.hub.proc.wait_for_log(r"cache over its memory budget: type falls back to forwarding\" "
                                    r"cluster=edge-1 type=/v1/configmaps", timeout=30, start=start)
            text = scrape(c.hub.admin)
            self.assertEqual(series(text, "kubehub_hub_cache_budget_drops_total", cluster="edge-1"), 1)
            # Dropped: no series left for it, reads are forwarded.
            self.assertIsNone(series(text, "kubehub_hub_cache_bytes", cluster="edge-1", resource="configmaps"))
            status, headers, got = c.via.get("/api/v1/namespaces/default/configmaps/big")
            self.assertEqual(status, 200)
            self.assertNotEqual(headers.get("x-kubehub-served-from"), "cache")
            self.assertEqual(got["data"]["payload"][:8], f"{5:08d}")
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main()
