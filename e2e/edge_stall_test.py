"""An edge API server that goes silent without a reset (a dead node behind a failed-over address,
a stalled path): a relay between the agent and the stand-in blackholes their connections. The
agent gives up on an answer that stops mid-way after --response-timeout and says why, so the
user's request ends (its quota lease with it) instead of hanging for the tunnel's lifetime; its
own reads (/version and nodes for the status report, discovery) give up as well."""
import os
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
from relay import Relay  # noqa: E402

USER_TOKEN = "user-token-stall-0123456789"
EDGE_TOKEN = "edge-agent-token-stall-0123456789"
CLUSTER = "edge-stall"
RESPONSE_TIMEOUT_S = 2
# Large enough that the stand-in cannot have written it all into the socket buffers between it
# and the agent (a few MB each) when the path goes silent.
OBJECTS = 64
OBJECT_BYTES = 900 * 1024


class EdgeStallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workdir()
        cls.procs = []
        cls.relay = None
        try:
            cls.pki = e2e.Pki(cls.work.join("pki"))
            cls.standin, cls.standin_url = e2e.start_standin(cls.work, cls.pki, EDGE_TOKEN)
            cls.procs.append(cls.standin)
            host, port = cls.standin_url.removeprefix("https://").rsplit(":", 1)
            cls.relay = Relay(host, int(port))
            tokens = e2e.write_token_file(cls.work.join("tokens.csv"), [(USER_TOKEN, "erin", "u-9", [])])
            cls.hub = e2e.Hub(cls.work, cls.pki, tokens, extra=["--cache-resources", "none"])
            cls.procs.append(cls.hub.proc)
            agent_kc = e2e.write_kubeconfig(cls.work.join("agent.kubeconfig"), f"https://{cls.relay.address}",
                                            cls.pki.ca_cert, token=EDGE_TOKEN)
            cls.agent = e2e.Agent(cls.work, cls.pki, CLUSTER, cls.hub, agent_kc, extra=[
                "--response-timeout", f"{RESPONSE_TIMEOUT_S}s", "--status-check-interval", "1s"])
            cls.procs.append(cls.agent.proc)
            cls.hub.wait_discovered(CLUSTER)
            for i in range(OBJECTS):
                e2e.https_json(cls.standin_url + "/api/v1/namespaces/default/configmaps", EDGE_TOKEN,
                               cls.pki.ca_cert, method="POST",
                               body={"metadata": {"name": f"big-{i}"}, "data": {"v": "x" * OBJECT_BYTES}})
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.procs):
            p.kill()
        if cls.relay:
            cls.relay.close()
        if getattr(cls, "failed", False):
            e2e.print_logs(cls.work, ["standin.log", "hub.log", f"agent-{CLUSTER}.log"])
        cls.work.close()

    def tearDown(self):
        self.relay.restore()
        result = getattr(self._outcome, "result", None)
        if result is not None and (result.failures or result.errors):
            type(self).failed = True

    def test_1_an_answer_that_stops_mid_way_ends_after_the_response_timeout(self):
        host, port = self.hub.users.rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=self.pki.ca_cert)
        path = f"/clusters/{CLUSTER}/api/v1/namespaces/default/configmaps"
        hub_log_at = len(self.hub.proc.log_text())
        with socket.create_connection((host, int(port)), timeout=60) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {USER_TOKEN}\r\n"
                        f"Accept: application/json\r\n\r\n".encode())
            got = b""
            while len(got) < 256 * 1024:
                chunk = tls.recv(65536)
                self.assertTrue(chunk, got[:300])
                got += chunk
            self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:300])
            # The edge goes silent with most of the list still to come.
            self.relay.blackhole()
            silent_at = time.monotonic()
            tls.settimeout(RESPONSE_TIMEOUT_S + 40)
            ended_by = "end of connection"
            try:
                while True:
                    chunk = tls.recv(1 << 20)
                    if not chunk:
                        break
                    got += chunk
            except socket.timeout:
                self.fail(f"the answer was still open {RESPONSE_TIMEOUT_S + 40} s after the edge went silent "
                          f"({len(got)} bytes read)")
            except (ConnectionError, ssl.SSLError) as e:
                ended_by = type(e).__name__
            waited = time.monotonic() - silent_at
        self.assertLess(len(got), OBJECTS * OBJECT_BYTES, "the whole list arrived: the edge never went silent")
        # Not a speed figure: the stream ends once the agent's deadline passed, not before.
        self.assertGreaterEqual(waited, RESPONSE_TIMEOUT_S - 0.5, ended_by)
        print(f"FIGURE an answer stalled at the edge ended for the client {waited:.1f} s after the edge went "
              f"silent (--response-timeout {RESPONSE_TIMEOUT_S}s; {len(got) >> 20} MiB read; {ended_by})",
              file=sys.stderr)
        # The hub says why (the agent's reset reason).
        self.hub.proc.wait_for_log(r"API server response", timeout=10, start=hub_log_at)
        # The path back: the next request goes through on a new connection.
        self.relay.restore()
        status, _ = e2e.https_json(self.hub.cluster_url(CLUSTER) + "/api/v1/namespaces/default/configmaps/big-0",
                                   USER_TOKEN, self.pki.ca_cert)
        self.assertEqual(status, 200)

    def test_2_the_agents_own_reads_give_up_on_a_silent_edge(self):
        # The status collector reads /version and the nodes every second over pooled connections.
        # Silent mid-read, each gives up after --response-timeout and the agent says so; before,
        # a pooled connection's read had no deadline and the collector hung for good.
        agent_log_at = len(self.agent.proc.log_text())
        time.sleep(1.5)  # a collection over the pool has just happened
        self.relay.blackhole()
        self.agent.proc.wait_for_log(r"cannot list nodes", timeout=60, start=agent_log_at)
        self.relay.restore()
        self.agent.proc.wait_for_log(r"nodes can be listed again", timeout=60, start=agent_log_at)


if __name__ == "__main__":
    unittest.main()
