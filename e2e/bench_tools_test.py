"""The benchmark tools (`make bench`) against the current binaries, small: the simulated-agent
swarm opens real mTLS tunnels that the hub counts, and the measuring client reads, streams and
reports what it measured. Keeps the tools from rotting between benchmark runs.

    KUBEHUB_BIN_DIR=build/bin /usr/bin/python3 -m unittest -v bench_tools_test   (from e2e/)
"""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

import kubehub_e2e as e2e  # noqa: E402

EDGE_TOKEN = "bench-tools-edge-token"
USER_TOKEN = "bench-tools-user-token"
AGENTS = 25


def hub_metric(admin, pattern):
    m = re.search(pattern, e2e.metrics_text(admin), re.M)
    return float(m.group(1)) if m else None


def hub_connected_agents(admin):
    n = hub_metric(admin, r"^kubehub_hub_connected_agents(?:\{[^}]*\})? ([0-9.e+]+)$")
    return int(n) if n is not None else -1


def echo_server(mangle):
    """A loopback echo server on a free port (the stand-in's port-forward target, without
    kubectl); `mangle` flips one bit of the first byte it echoes on each connection."""
    srv = socket.create_server(("127.0.0.1", 0))

    def serve(conn):
        first = True
        while True:
            data = conn.recv(1 << 16)
            if not data:
                break
            if mangle and first:
                data = bytes([data[0] ^ 1]) + data[1:]
                first = False
            conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        conn.close()

    def accept():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    return srv


class BenchToolsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workdir("kubehub-bench-tools-")
        cls.pki = e2e.Pki(cls.work.join("pki"))
        cls.standin, cls.standin_url = e2e.start_standin(cls.work, cls.pki, EDGE_TOKEN,
                                                         extra=["--seed-pods", "10"])
        cls.token_file = e2e.write_token_file(cls.work.join("tokens.csv"),
                                              [(USER_TOKEN, "bench", "bench-uid", ["system:masters"])])
        cls.hub = e2e.Hub(cls.work, cls.pki, cls.token_file, name="hub")
        kc = e2e.write_kubeconfig(cls.work.join("edge.kubeconfig"), cls.standin_url, cls.pki.ca_cert,
                                  token=EDGE_TOKEN)
        cls.agent = e2e.Agent(cls.work, cls.pki, "edge-logs", cls.hub, kc)
        cls.hub.wait_discovered("edge-logs")

    @classmethod
    def tearDownClass(cls):
        cls.agent.proc.stop()
        cls.hub.proc.stop()
        cls.standin.stop()
        cls.work.close()

    def client(self, *args):
        r = subprocess.run([e2e.binary("kubehub-bench-client"), *args, "--ca", self.pki.ca_cert],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        return json.loads(r.stdout.strip().splitlines()[-1])

    def create_log_pod(self, name, size):
        """A pod at the stand-in whose log is `size` bytes, written a line per HTTP chunk."""
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "default",
                            "annotations": {"standin.kubehub.io/log-bytes": str(size)}},
               "spec": {"containers": [{"name": "main", "image": "pause"}]}}
        status, _ = e2e.https_json(self.standin_url + "/api/v1/namespaces/default/pods", token=EDGE_TOKEN,
                                   ca_file=self.pki.ca_cert, method="POST", body=pod)
        self.assertEqual(status, 201)

    def test_hot_path_micro_benchmarks_run_beside_their_baselines(self):
        # `make bench` (step codec) reads these six by name; timings are the bench's, not ours.
        r = subprocess.run([e2e.binary("kubehub-hotpath-bench"), "--benchmark_format=json",
                            "--benchmark_min_time=0.01"], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        runs = {b["name"]: b for b in json.loads(r.stdout)["benchmarks"]}
        for name in ("LabelSelectorMatch", "LabelSelectorParseAndMatch", "FrameEncodeDecodeData",
                     "CopyData", "PlanCachedList", "SplitClusterPath"):
            self.assertIn(name, runs)
            self.assertGreater(runs[name]["iterations"], 0, name)

    def test_swarm_tunnels_are_counted_by_the_hub_and_released(self):
        base = hub_connected_agents(self.hub.admin)  # the real agent of the log test
        status_file = self.work.join("swarm-status.json")
        swarm = e2e.Process([e2e.binary("kubehub-agent-swarm"), "--hub-url", f"wss://{self.hub.tunnel}/tunnel",
                             "--hub-ca", self.pki.ca_cert, "--ca-cert", self.pki.ca_cert, "--ca-key", self.pki.ca_key,
                             "--count", str(AGENTS), "--prefix", "tools-", "--status-file", status_file,
                             "--status-interval", "200ms"],
                            ready=r"swarm prepared agents=\d+", log_path=self.work.join("swarm.log"))
        try:
            e2e.wait_until(lambda: hub_connected_agents(self.hub.admin) == base + AGENTS, timeout=60, interval=0.2,
                           what=f"the hub to count {AGENTS} simulated agents")

            def swarm_connected():
                try:
                    with open(status_file) as f:
                        return json.load(f).get("connected")
                except (OSError, ValueError):
                    return None
            e2e.wait_until(lambda: swarm_connected() == AGENTS, timeout=30, what="the swarm's own count")
            # Each simulated agent is a cluster the hub routes to: an idle one refuses streams.
            self.hub.wait_discovered("tools-00000", timeout=30)
        finally:
            swarm.stop()
        e2e.wait_until(lambda: hub_connected_agents(self.hub.admin) == base, timeout=60, interval=0.2,
                       what="the hub to see every simulated agent gone")

    def test_client_measures_requests_and_streams(self):
        got = self.client("requests", "--url", self.standin_url + "/api/v1/namespaces/default/pods/bench-00001",
                          "--token", EDGE_TOKEN, "--count", "30", "--warmup", "3",
                          "--samples-out", self.work.join("samples.txt"))
        self.assertEqual(got.get("errors"), 0, got)
        self.assertFalse(got.get("non_200"), got)
        self.assertGreater(got["p50_us"], 0)
        self.assertGreaterEqual(got["p99_us"], got["p50_us"])
        with open(self.work.join("samples.txt")) as f:
            samples = [line.split() for line in f if line.strip()]
        self.assertEqual(len(samples), 30)
        self.assertTrue(all(s[2] == "200" for s in samples), samples[:3])

        size = 3_000_000
        self.create_log_pod("tools-log", size)
        got = self.client("stream", "--url", self.standin_url + "/api/v1/namespaces/default/pods/tools-log/log",
                          "--token", EDGE_TOKEN)
        self.assertEqual((got["status"], got["bytes"]), (200, size), got)
        self.assertGreater(got["mb_per_s"], 0)


    def test_client_echoes_over_several_connections_and_checks_every_byte(self):
        for mangle in (False, True):
            with self.subTest(mangle=mangle):
                srv = echo_server(mangle)
                try:
                    got = self.client("echo", "--address", f"127.0.0.1:{srv.getsockname()[1]}", "--connections", "2",
                                      "--bytes", "3000000")
                finally:
                    srv.close()
                self.assertEqual((got["sent"], got["received"], got["errors"]), (6_000_000, 6_000_000, []), got)
                self.assertEqual(got["intact"], not mangle, got)
                self.assertGreater(got["mb_per_s"], 0)

    def test_a_log_streams_through_the_tunnel_in_large_frames(self):
        # The edge writes a log a few hundred bytes per HTTP chunk; the agent must gather what has
        # arrived into large tunnel frames (one frame per chunk cut throughput fivefold).
        size = 4_000_000
        self.create_log_pod("frames-log", size)
        frames = r'^kubehub_hub_tunnel_frames_total\{cluster="edge-logs",direction="in"\} ([0-9.e+]+)$'
        before = hub_metric(self.hub.admin, frames)
        got = self.client("stream", "--url",
                          self.hub.cluster_url("edge-logs") + "/api/v1/namespaces/default/pods/frames-log/log",
                          "--token", USER_TOKEN)
        self.assertEqual((got["status"], got["bytes"]), (200, size), got)
        used = hub_metric(self.hub.admin, frames) - before
        self.assertLess(used, size / 4096, f"{used:.0f} frames for {size} bytes: the agent sent small frames")


if __name__ == "__main__":
    unittest.main()
