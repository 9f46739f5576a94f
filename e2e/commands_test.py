"""Native commands, end to end: PostgreSQL + metaserver + a hub + an agent whose --commands-file
names a few programs (a script written here, /bin/echo, /bin/sleep, /usr/bin/yes) + a stand-in.

alice's grant names every command ("*"), carol's only echo-args, bob's none (he may read
resources). Calls go through the hub as POST /clusters/edge-1/kubehub/v1/commands/NAME and stream
JSON lines back; the hub's audit log names each call with its parameters, secret ones redacted."""
import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import kubehub_e2e as e2e  # noqa: E402
from fleet import FleetTestCase  # noqa: E402

COMMANDS = """
commands:
  - name: slow-count
    description: counts to COUNT, half a second apart, on stdout and stderr; exits 3
    executable: {script}
    args: ["{{count}}"]
    parameters:
      - name: count
        type: integer
        min: 1
        max: 10
        required: true
    timeoutSeconds: 20
  - name: echo-args
    executable: /bin/echo
    args: ["{{text}}"]
    parameters:
      - name: text
        required: true
  - name: sleepy
    executable: /bin/sleep
    args: ["30"]
    timeoutSeconds: 1
  - name: chatty
    executable: /usr/bin/yes
    args: ["spam"]
    maxOutputBytes: 1000
  - name: term-trap
    description: traps SIGTERM, says so and exits
    executable: {term_trap}
    timeoutSeconds: 1
    killGraceSeconds: 5
  - name: term-deaf
    description: ignores SIGTERM
    executable: {term_deaf}
    timeoutSeconds: 1
    killGraceSeconds: 1
  - name: secret-echo
    executable: /bin/echo
    args: ["{{user}}", "{{password}}", "{{pin}}"]
    parameters:
      - name: user
      - name: password
      - name: pin
        secret: true
"""

SCRIPT = """#!/bin/sh
i=1
while [ "$i" -le "$1" ]; do
  echo "line $i"
  echo "err $i" >&2
  sleep 0.5
  i=$((i + 1))
done
exit 3
"""

# `sleep` in the background and `wait`: the shell runs a trap at once, not after the sleep.
TERM_TRAP = """#!/bin/sh
trap 'echo "got TERM, cleaning up"; exit 0' TERM
echo started
sleep 30 &
wait
"""

# An ignored signal stays ignored in the sleep it starts: only SIGKILL ends this group.
TERM_DEAF = """#!/bin/sh
trap '' TERM
echo $$
sleep 30
echo "not reached"
"""


class CommandsTest(FleetTestCase):
    @classmethod
    def start_fleet(cls, fleet):
        w = fleet.work
        p = fleet.start_platform()
        p.ctl("tenant", "create", "ops")
        for user in ("alice", "bob", "carol"):
            p.ctl("user", "create", user, "--tenant", "ops")
        p.ctl("cluster", "create", "edge-1")
        p.ctl("grant", "create", "alice-cmds", "--tenant", "ops", "--user", "alice", "--clusters", "edge-1",
              "--commands", "*")
        p.ctl("grant", "create", "carol-echo", "--tenant", "ops", "--user", "carol", "--clusters", "edge-1",
              "--commands", "echo-args")
        p.ctl("grant", "create", "bob-read", "--tenant", "ops", "--user", "bob", "--clusters", "edge-1",
              "--resources", "*", "--verbs", "get,list")
        # A second tenant whose grant names two commands (and one the agent does not offer).
        p.ctl("tenant", "create", "field")
        p.ctl("user", "create", "dave", "--tenant", "field")
        p.ctl("grant", "create", "dave-cmds", "--tenant", "field", "--user", "dave", "--clusters", "edge-1",
              "--commands", "slow-count,term-trap,not-offered")
        cls.alice, cls.bob, cls.carol = p.token("alice"), p.token("bob"), p.token("carol")
        cls.dave = p.token("dave")
        scripts = {}
        for key, text in (("script", SCRIPT), ("term_trap", TERM_TRAP), ("term_deaf", TERM_DEAF)):
            scripts[key] = w.join(key.replace("_", "-") + ".sh")
            with open(scripts[key], "w") as f:
                f.write(text)
            os.chmod(scripts[key], 0o755)
        cls.commands_file = w.join("commands.yaml")
        with open(cls.commands_file, "w") as f:
            f.write(COMMANDS.format(**scripts))
        cls.audit_path = w.join("hub-1-audit.log")
        cls.hub = fleet.start_hub("hub-1", peer=True, extra=["--audit-log", cls.audit_path])
        # A second hub without the tunnel: calls through it cross a peer link to hub-1.
        cls.hub2_audit_path = w.join("hub-2-audit.log")
        cls.hub2 = fleet.start_hub("hub-2", peer=True, extra=["--audit-log", cls.hub2_audit_path])
        cls.agent = fleet.start_agent("edge-1", cls.hub, agent_extra=["--commands-file", cls.commands_file])
        cls.hub.wait_discovered("edge-1")

    def post(self, name, params, token=None):
        return self.fleet.request(self.hub, "POST", f"/clusters/edge-1/kubehub/v1/commands/{name}",
                                  token or self.alice, body=params)

    def events(self, text):
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def output(self, events, stream="stdout"):
        return "".join(e["data"] for e in events if e.get("stream") == stream)

    def ctl(self, *args, token=None):
        return self.fleet.platform.ctl("command", *args, "--cluster", "edge-1", "--hub", f"https://{self.hub.users}",
                                       token=token or self.alice, check=False)

    def test_listing_names_the_commands_and_their_parameters(self):
        status, _, body = self.fleet.request(self.hub, "GET", "/clusters/edge-1/kubehub/v1/commands", self.alice)
        self.assertEqual(status, 200, body)
        items = {i["name"]: i for i in json.loads(body)["items"]}
        self.assertEqual(set(items), {"slow-count", "echo-args", "sleepy", "chatty", "secret-echo",
                                      "term-trap", "term-deaf"})
        self.assertEqual(items["term-trap"]["killGraceSeconds"], 5)
        self.assertEqual(items["sleepy"]["killGraceSeconds"], 2, "the default")
        self.assertEqual(items["slow-count"]["parameters"][0]["type"], "integer")
        self.assertNotIn("/bin/echo", body)  # what runs stays the edge's business
        r = self.ctl("list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("slow-count", r.stdout)
        self.assertIn("count:integer*", r.stdout)

    def test_listing_shows_only_what_the_callers_grants_allow(self):
        def names(token, hub=None):
            status, _, body = self.fleet.request(hub or self.hub, "GET", "/clusters/edge-1/kubehub/v1/commands",
                                                 token)
            self.assertEqual(status, 200, body)
            j = json.loads(body)
            self.assertEqual(j["kind"], "CommandList")
            return {i["name"] for i in j["items"]}
        everything = {"slow-count", "echo-args", "sleepy", "chatty", "secret-echo", "term-trap", "term-deaf"}
        self.assertEqual(names(self.alice), everything, "a grant with *")
        self.assertEqual(names(self.carol), {"echo-args"})
        self.assertEqual(names(self.bob), set(), "a grant on the cluster, with no command")
        self.assertEqual(names(self.dave), {"slow-count", "term-trap"}, "another tenant's grant")
        # The same through hub-2, which reaches the agent over a peer link.
        self.assertEqual(names(self.carol, self.hub2), {"echo-args"})
        self.assertEqual(names(self.dave, self.hub2), {"slow-count", "term-trap"})
        r = self.ctl("list", token=self.carol)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("echo-args", r.stdout)
        self.assertNotIn("slow-count", r.stdout)

    def test_output_streams_as_it_is_produced(self):
        host, port = self.hub.users.rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), timeout=20,
                                           context=ssl.create_default_context(cafile=self.fleet.pki.ca_cert))
        start = time.monotonic()
        conn.request("POST", "/clusters/edge-1/kubehub/v1/commands/slow-count", body=json.dumps({"count": 5}),
                     headers={"Authorization": f"Bearer {self.alice}", "Content-Type": "application/json"})
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "application/x-ndjson")
        arrivals = []
        while True:
            line = r.readline()
            if not line:
                break
            arrivals.append((time.monotonic() - start, json.loads(line)))
        conn.close()
        events = [e for _, e in arrivals]
        self.assertEqual(self.output(events), "".join(f"line {i}\n" for i in range(1, 6)))
        self.assertEqual(self.output(events, "stderr"), "".join(f"err {i}\n" for i in range(1, 6)))
        self.assertEqual(events[-1], {"exitCode": 3})
        first = next(t for t, e in arrivals if e.get("stream") == "stdout")
        last = arrivals[-1][0]
        # 5 lines half a second apart: the first arrived long before the end.
        self.assertGreater(last - first, 1.5, arrivals)

    def test_timeout_kills_the_command(self):
        start = time.monotonic()
        status, _, body = self.post("sleepy", {})
        self.assertEqual(status, 200, body)
        self.assertLess(time.monotonic() - start, 10)
        last = self.events(body)[-1]
        self.assertEqual(last["error"], "timeout", body)
        r = self.ctl("run", "sleepy")
        self.assertEqual(r.returncode, 124, r.stderr)
        self.assertIn("timeout", r.stderr)

    def test_timeout_sends_sigterm_first_and_passes_on_what_the_command_says(self):
        start = time.monotonic()
        status, _, body = self.post("term-trap", {})
        took = time.monotonic() - start
        self.assertEqual(status, 200, body)
        events = self.events(body)
        self.assertEqual(self.output(events), "started\ngot TERM, cleaning up\n", body)
        self.assertEqual(events[-1]["error"], "timeout", body)
        self.assertIs(events[-1]["killed"], False, body)
        self.assertIn("ended on SIGTERM", events[-1]["message"])
        self.assertLess(took, 4.5, "it ended on SIGTERM, well within its 5 s grace")

    def test_a_command_ignoring_sigterm_is_killed_after_its_grace(self):
        start = time.monotonic()
        status, _, body = self.post("term-deaf", {})
        took = time.monotonic() - start
        self.assertEqual(status, 200, body)
        events = self.events(body)
        self.assertEqual(events[-1]["error"], "timeout", body)
        self.assertIs(events[-1]["killed"], True, body)
        self.assertIn("did not end within 1s of SIGTERM", events[-1]["message"])
        self.assertGreaterEqual(took, 2 - 0.2, "1 s timeout, then 1 s grace")
        self.assertLess(took, 10)
        self.assertNotIn("not reached", self.output(events))
        pid = int(self.output(events).split()[0])
        with self.assertRaises(ProcessLookupError, msg="the script is gone"):
            os.kill(pid, 0)

    def test_output_limit_stops_the_command(self):
        status, _, body = self.post("chatty", {})
        self.assertEqual(status, 200, body)
        events = self.events(body)
        self.assertEqual(events[-1]["error"], "output limit", body[-300:])
        self.assertEqual(len(self.output(events)), 1000)

    def test_unknown_command_and_bad_parameters_are_refused(self):
        status, _, body = self.post("no-such-command", {})
        self.assertEqual(status, 404, body)
        self.assertEqual(json.loads(body)["kind"], "Status")
        self.assertIn("no-such-command", json.loads(body)["message"])
        status, _, body = self.post("slow-count", {"count": 11})
        self.assertEqual(status, 400, body)
        self.assertIn('parameter \\"count\\" must be between 1 and 10', body)
        status, _, body = self.post("slow-count", {"count": 1, "extra": "x"})
        self.assertEqual(status, 400, body)
        status, _, body = self.post("slow-count", "[1, 2]")
        self.assertEqual(status, 400, body)
        # Nothing under /kubehub/ is ever an API server's path.
        status, _, body = self.fleet.request(self.hub, "GET", "/clusters/edge-1/kubehub/v1/other", self.alice)
        self.assertEqual(status, 404, body)

    def test_shell_metacharacters_are_one_literal_argument(self):
        text = "; rm -rf / $(id) `id` | cat && echo pwned > /tmp/x"
        status, _, body = self.post("echo-args", {"text": text})
        self.assertEqual(status, 200, body)
        events = self.events(body)
        self.assertEqual(self.output(events), text + "\n")
        self.assertEqual(events[-1], {"exitCode": 0})

    def test_grants_decide_who_runs_what(self):
        for token, name, params in ((self.bob, "echo-args", {"text": "x"}), (self.carol, "slow-count", {"count": 1})):
            status, _, body = self.post(name, params, token=token)
            self.assertEqual(status, 403, body)
            st = json.loads(body)
            self.assertEqual((st["kind"], st["reason"]), ("Status", "Forbidden"))
            self.assertIn(f'cannot run command "{name}"', st["message"])
        status, _, body = self.post("echo-args", {"text": "hi"}, token=self.carol)
        self.assertEqual(status, 200, body)
        r = self.ctl("run", "echo-args", "text=x", token=self.bob)
        self.assertEqual(r.returncode, 5, r.stderr)  # kubehubctl's "forbidden"
        self.assertIn("forbidden", r.stderr)

    def test_audit_line_names_the_call_with_secrets_redacted(self):
        status, _, body = self.post("secret-echo", {"user": "ann", "password": "hunter2", "pin": "8642"})
        self.assertEqual(status, 200, body)
        self.assertIn("ann hunter2 8642", body)  # the command itself saw them

        def line():
            with open(self.audit_path) as f:
                for entry in f:
                    record = json.loads(entry)
                    if record.get("command") == "secret-echo":
                        return record
            return None
        e2e.wait_until(lambda: line() is not None, timeout=10, what="the audit line")
        record = line()
        self.assertEqual(record["user"], "alice")
        self.assertEqual(record["cluster"], "edge-1")
        self.assertEqual(record["code"], 200)
        self.assertEqual(record["parameters"], {"user": "ann", "password": "[redacted]", "pin": "[redacted]"})
        with open(self.audit_path) as f:
            text = f.read()
        self.assertNotIn("hunter2", text)
        self.assertNotIn("8642", text)

    def test_a_call_through_another_hub_crosses_the_peer_link_and_is_audited_there(self):
        def call():
            return self.fleet.request(self.hub2, "POST", "/clusters/edge-1/kubehub/v1/commands/secret-echo",
                                      self.alice, body={"user": "via-peer", "password": "p4ss"})
        # hub-2 learns from the routing table that hub-1 holds edge-1.
        e2e.wait_until(lambda: call()[0] == 200, timeout=20, what="a call through hub-2")
        status, _, body = call()
        self.assertIn("via-peer p4ss", body)
        self.assertEqual(self.events(body)[-1], {"exitCode": 0})

        def line():
            with open(self.hub2_audit_path) as f:
                return [json.loads(x) for x in f if '"via-peer"' in x]
        e2e.wait_until(lambda: line(), timeout=10, what="hub-2's audit line")
        self.assertEqual(line()[-1]["parameters"], {"user": "via-peer", "password": "[redacted]"})
        with open(self.hub2_audit_path) as f:
            self.assertNotIn("p4ss", f.read())

    def test_kubehubctl_command_run_prints_output_and_exits_with_its_code(self):
        r = self.ctl("run", "slow-count", "count=2")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(r.stdout, "line 1\nline 2\n")
        self.assertEqual(r.stderr, "err 1\nerr 2\n")
        r = self.ctl("run", "echo-args", "text=$(id); ls")
        self.assertEqual((r.returncode, r.stdout), (0, "$(id); ls\n"), r.stderr)

    def test_agent_counts_commands_by_name_and_outcome(self):
        self.post("echo-args", {"text": "count me"})
        total = e2e.metric_total(self.agent.admin(), "kubehub_agent_commands_total",
                                 {"command": "echo-args", "outcome": "exited"})
        self.assertGreaterEqual(total, 1)
        text = e2e.metrics_text(self.agent.admin())
        self.assertIn('kubehub_agent_command_duration_seconds_count{command="echo-args"}', text)

    def test_a_bad_commands_file_stops_the_agent_at_start(self):
        bad = self.fleet.work.join("bad-commands.yaml")
        with open(bad, "w") as f:
            f.write("commands:\n  - name: oops\n    executable: bin/relative\n")
        crt, key = self.fleet.pki.agent("agent-bad", "edge-1")
        r = subprocess.run([e2e.binary("kubehub-agent"), "--hub-url", f"wss://{self.hub.tunnel}/tunnel",
                            "--tls-cert", crt, "--tls-key", key, "--commands-file", bad,
                            "--admin-listen", "127.0.0.1:0", "--kubeconfig", "/nonexistent"],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('command "oops".executable: must be an absolute path', r.stderr + r.stdout)


if __name__ == "__main__":
    unittest.main()
