"""An agent in --mode native, end to end: PostgreSQL + metaserver, a hub, and an agent on a bare
host (no kubeconfig, no API server) with a --commands-file. Commands run through the hub, any
Kubernetes path for the cluster is refused with a Status that says why, and the host's facts
(kind host, OS, kernel, CPUs, memory) reach the hub's /debug/clusters and metrics, the registry
and kubehubctl."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
from fleet import FleetTestCase, admin_get, metric, status_message  # noqa: E402

COMMANDS = """
commands:
  - name: echo-args
    executable: /bin/echo
    args: ["{text}"]
    parameters:
      - name: text
        required: true
"""


class NativeAgentTest(FleetTestCase):
    @classmethod
    def start_fleet(cls, fleet):
        p = fleet.start_platform()
        p.ctl("tenant", "create", "ops")
        p.ctl("user", "create", "alice", "--tenant", "ops")
        p.ctl("cluster", "create", "host-1")
        p.ctl("grant", "create", "alice-cmds", "--tenant", "ops", "--user", "alice", "--clusters", "host-1",
              "--commands", "*")
        p.ctl("grant", "create", "alice-all", "--tenant", "ops", "--user", "alice", "--clusters", "host-1",
              "--api-groups", "*", "--resources", "*", "--verbs", "*")
        cls.alice = p.token("alice")
        commands_file = fleet.work.join("commands.yaml")
        with open(commands_file, "w") as f:
            f.write(COMMANDS)
        cls.hub = fleet.start_hub("hub-1", peer=False)
        fleet._logs.append("agent-host-1.log")
        cls.agent = e2e.Agent(fleet.work, fleet.pki, "host-1", cls.hub, None,
                              extra=["--mode", "native", "--commands-file", commands_file],
                              certificate=p.agent_certificate("host-1"), timeout=40)
        fleet._procs.append(cls.agent.proc)

    def request(self, method, path, body=None):
        return self.fleet.request(self.hub, method, path, self.alice, body=body)

    def hub_entry(self):
        for c in json.loads(admin_get(self.hub, "/debug/clusters")[1])["clusters"]:
            if c["cluster"] == "host-1" and "status" in c:
                return c
        return None

    def test_commands_run_through_the_hub(self):
        status, _, body = self.request("GET", "/clusters/host-1/kubehub/v1/commands")
        self.assertEqual(status, 200, body)
        self.assertEqual([i["name"] for i in json.loads(body)["items"]], ["echo-args"])
        status, _, body = self.request("POST", "/clusters/host-1/kubehub/v1/commands/echo-args",
                                       body={"text": "hello from the host"})
        self.assertEqual(status, 200, body)
        events = [json.loads(line) for line in body.splitlines() if line.strip()]
        self.assertEqual("".join(e["data"] for e in events if e.get("stream") == "stdout"), "hello from the host\n")
        self.assertEqual(events[-1], {"exitCode": 0})

    def test_kubernetes_paths_are_refused_with_a_status(self):
        for path in ("/clusters/host-1/api/v1/namespaces", "/clusters/host-1/version",
                     "/clusters/host-1/apis/apps/v1/deployments"):
            status, headers, body = self.request("GET", path)
            self.assertEqual(status, 404, body)
            self.assertEqual(json.loads(body)["kind"], "Status", body)
            self.assertIn("cluster host-1 is a host: only /kubehub/v1/commands is served", status_message(body))
        self.assertNotIn("discovery received", self.hub.proc.log_text(), "a host is not asked for discovery")

    def test_host_status_reaches_hub_and_registry(self):
        entry = e2e.wait_until(self.hub_entry, timeout=30, interval=0.2, what="host-1's status at the hub")
        self.assertEqual(entry["kind"], "host")
        self.assertFalse(entry["discovered"])
        r = entry["status"]
        self.assertEqual(r["kind"], "host")
        host = r["host"]
        with open("/etc/os-release") as f:
            pretty = next((line.split("=", 1)[1].strip().strip('"') for line in f if line.startswith("PRETTY_NAME=")),
                          "")
        self.assertEqual(host["os"], pretty)
        self.assertEqual(host["kernel"], os.uname().release)
        self.assertEqual(host["arch"], os.uname().machine)
        self.assertEqual(host["cpus"], os.cpu_count())
        self.assertGreater(host["memory"]["totalBytes"], 0)
        self.assertGreater(host["memory"]["availableBytes"], 0)
        self.assertEqual(host["disk"]["path"], "/")
        self.assertGreater(host["disk"]["totalBytes"], 0)
        self.assertGreater(host["uptimeSeconds"], 0)
        self.assertNotIn("kubernetes", r)
        self.assertNotIn("nodes", r)
        self.assertEqual(metric(self.hub, "kubehub_hub_cluster_info", cluster="host-1", kind="host"), 1)

        def registered():
            c = self.fleet.platform.ctl_json("cluster", "get", "host-1")
            return c if c["status"]["connected"] and c["status"]["report"] else None
        c = e2e.wait_until(registered, timeout=30, interval=0.2, what="host-1's report in the registry")
        self.assertEqual(c["status"]["kind"], "host")
        self.assertEqual(c["status"]["report"]["host"]["cpus"], os.cpu_count())
        text = self.fleet.platform.ctl("cluster", "get", "host-1").stdout
        self.assertIn("status.kind: host\n", text)
        self.assertIn(f"status.report.host.kernel: {os.uname().release}\n", text)
        # The list by kind: a host's OS and kernel for the version, no nodes, its CPUs and memory.
        table = self.fleet.platform.ctl("cluster", "list").stdout.splitlines()
        header = table[0].split()
        self.assertEqual(header[:3], ["NAME", "CONNECTED", "KIND"])
        self.assertEqual(header[6:10], ["VERSION", "NODES", "CPU", "MEMORY"])
        row = next(line for line in table if line.startswith("host-1 "))
        self.assertEqual(row.split()[1:3], ["yes", "host"])
        version = f"{pretty} (kernel {os.uname().release})" if pretty else os.uname().release
        self.assertIn(version, row)
        after = row.split(version, 1)[1].split()
        memory = "%.1fGiB" % (host["memory"]["totalBytes"] / 2**30)
        self.assertEqual(after[:3], ["-", str(os.cpu_count()), memory], row)


class NativeAgentFlagsTest(unittest.TestCase):
    def test_api_server_flags_are_refused(self):
        import subprocess
        r = subprocess.run([e2e.binary("kubehub-agent"), "--mode", "native", "--hub-url", "wss://127.0.0.1:1/tunnel",
                            "--tls-cert", "/nonexistent", "--tls-key", "/nonexistent", "--cluster", "host-1",
                            "--kubeconfig", "/nonexistent"], capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--kubeconfig needs a Kubernetes API server; --mode native has none", r.stderr)
        r = subprocess.run([e2e.binary("kubehub-agent"), "--mode", "vm", "--hub-url", "wss://127.0.0.1:1/tunnel"],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--mode must be kubernetes or native", r.stderr)


if __name__ == "__main__":
    unittest.main()
