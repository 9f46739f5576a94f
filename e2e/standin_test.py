"""End-to-end tests of the edge API server stand-in, driven by the real kubectl and the Debian
python3-kubernetes client, straight at the stand-in (no hub). Run with /usr/bin/python3:

    KUBEHUB_BIN_DIR=build/bin /usr/bin/python3 -m unittest -v standin_test   (from e2e/)
"""
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

import kubehub_e2e as e2e  # noqa: E402

from kubernetes import client as kclient  # noqa: E402
from kubernetes import config as kconfig  # noqa: E402
from kubernetes import watch as kwatch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

TOKEN = "standin-e2e-token"
BENCH_PODS = 25


class LineReader:
    """Collects a process's stdout lines on a thread, so tests can wait on them with a deadline."""

    def __init__(self, proc):
        self.lines = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, args=(proc,), daemon=True)
        self._thread.start()

    def _run(self, proc):
        for line in proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def snapshot(self):
        with self._lock:
            return list(self.lines)


class StandinTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workdir("kubehub-standin-e2e-")
        cls.pki = e2e.Pki(cls.work.join("pki"))
        cls.proc, cls.url = e2e.start_standin(
            cls.work, cls.pki, TOKEN,
            extra=("--bookmark-interval", "300ms", "--log-interval", "100ms",
                   "--seed-pods", str(BENCH_PODS), "--client-ca", cls.pki.ca_cert))
        cls.kc = e2e.write_kubeconfig(cls.work.join("kubeconfig"), cls.url, cls.pki.ca_cert,
                                      token=TOKEN)
        cls.api_client = kconfig.new_client_from_config(config_file=cls.kc)
        cls.core = kclient.CoreV1Api(cls.api_client)

    @classmethod
    def tearDownClass(cls):
        cls.api_client.close()
        cls.proc.stop()
        cls.work.close()

    def kubectl(self, *args, **kw):
        return e2e.kubectl(self.kc, *args, **kw)

    def popen_kubectl(self, *args):
        env = {**os.environ, "HOME": self.work.path, "KUBECACHEDIR": self.work.join("kcache")}
        return subprocess.Popen([e2e.KUBECTL, "--kubeconfig", self.kc, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def write(self, name, text):
        path = self.work.join(name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def stop(self, proc):
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    # ---- kubectl get: discovery and server-side Tables ------------------------------------

    def test_get_namespaces(self):
        out = self.kubectl("get", "ns").stdout.splitlines()
        self.assertEqual(out[0].split(), ["NAME", "STATUS", "AGE"])
        rows = {line.split()[0]: line.split()[1] for line in out[1:]}
        for ns in ("default", "kube-system", "kube-public"):
            self.assertEqual(rows.get(ns), "Active", out)

    def test_get_pods_all_namespaces(self):
        out = self.kubectl("get", "pods", "-A").stdout.splitlines()
        self.assertEqual(out[0].split(), ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS",
                                          "AGE"])
        rows = {tuple(line.split()[:2]): line.split() for line in out[1:]}
        db = rows[("default", "db-0")]
        self.assertEqual(db[2:4], ["2/2", "Running"])
        self.assertEqual(db[4], "2")  # restarts, followed by "(Ns ago)"
        self.assertIn(("kube-system", "coredns-7db6d8ff4d-x2z5q"), rows)
        self.assertEqual(sum(1 for k in rows if k[1].startswith("bench-")), BENCH_PODS)

    def test_get_pods_wide_columns(self):
        out = self.kubectl("get", "pod", "web-1", "-o", "wide").stdout.splitlines()
        self.assertEqual(out[0].split(), ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP",
                                          "NODE", "NOMINATED", "NODE", "READINESS", "GATES"])
        cells = out[1].split()
        self.assertEqual(cells[0], "web-1")
        self.assertRegex(cells[5], r"^10\.244\.\d+\.\d+$")
        self.assertEqual(cells[6], "standin-node-1")

    def test_get_widgets_printer_columns(self):
        out = self.kubectl("get", "widgets").stdout.splitlines()
        self.assertEqual(out[0].split(), ["NAME", "COLOR", "SIZE", "AGE"])
        rows = {line.split()[0]: line.split() for line in out[1:]}
        self.assertEqual(rows["red-widget"][1:3], ["red", "3"])
        self.assertEqual(rows["blue-widget"][1:3], ["blue", "5"])
        short = self.kubectl("get", "wd", "blue-widget", "--no-headers").stdout.split()
        self.assertEqual(short[:3], ["blue-widget", "blue", "5"])

    def test_get_other_builtin_tables(self):
        nodes = self.kubectl("get", "nodes").stdout.splitlines()
        self.assertEqual(nodes[0].split(), ["NAME", "STATUS", "ROLES", "AGE", "VERSION"])
        self.assertIn("control-plane", nodes[1])
        deploy = self.kubectl("get", "deploy", "web").stdout.splitlines()
        self.assertEqual(deploy[0].split(), ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"])
        self.assertEqual(deploy[1].split()[:4], ["web", "2/2", "2", "2"])
        svc = self.kubectl("get", "svc", "kubernetes").stdout.splitlines()
        self.assertEqual(svc[1].split()[:5], ["kubernetes", "ClusterIP", "10.96.0.1", "<none>",
                                              "443/TCP"])

    def test_api_resources(self):
        out = self.kubectl("api-resources").stdout.splitlines()
        self.assertEqual(out[0].split(), ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED",
                                          "KIND"])
        rows = {line.split()[0]: line.split() for line in out[1:]}
        self.assertEqual(rows["pods"], ["pods", "po", "v1", "true", "Pod"])
        self.assertEqual(rows["namespaces"], ["namespaces", "ns", "v1", "false", "Namespace"])
        self.assertEqual(rows["deployments"], ["deployments", "deploy", "apps/v1", "true",
                                               "Deployment"])
        self.assertEqual(rows["widgets"], ["widgets", "wd", "example.com/v1", "true", "Widget"])
        for name in ("configmaps", "secrets", "services", "events", "nodes"):
            self.assertIn(name, rows)

    # ---- writes -----------------------------------------------------------------------------

    def test_apply_create_then_update(self):
        manifest = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: applied, namespace: default, labels: {app: applied}}
spec:
  replicas: 1
  selector: {matchLabels: {app: applied}}
  template:
    metadata: {labels: {app: applied}}
    spec:
      containers:
      - {name: main, image: "example/app:IMAGE", env: [{name: MODE, value: one}]}
      - {name: sidecar, image: "example/sidecar:1"}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: applied-widget, namespace: default}
spec: {color: green, size: SIZE}
"""
        path = self.write("apply.yaml", manifest.replace("IMAGE", "1").replace("SIZE", "7"))
        out = self.kubectl("apply", "-f", path)
        self.assertIn("deployment.apps/applied created", out.stdout)
        self.assertIn("widget.example.com/applied-widget created", out.stdout)
        self.assertEqual(out.stderr.strip(), "")
        self.write("apply.yaml", manifest.replace("IMAGE", "2").replace("SIZE", "8"))
        out = self.kubectl("apply", "-f", path)
        self.assertIn("deployment.apps/applied configured", out.stdout)
        self.assertIn("widget.example.com/applied-widget configured", out.stdout)
        images = self.kubectl("get", "deploy", "applied", "-o",
                              "jsonpath={.spec.template.spec.containers[*].image}").stdout
        self.assertEqual(images, "example/app:2 example/sidecar:1")
        gen = self.kubectl("get", "deploy", "applied", "-o",
                           "jsonpath={.metadata.generation}").stdout
        self.assertEqual(gen, "2")
        size = self.kubectl("get", "wd", "applied-widget", "-o", "jsonpath={.spec.size}").stdout
        self.assertEqual(size, "8")
        again = self.kubectl("apply", "-f", path)
        self.assertIn("deployment.apps/applied unchanged", again.stdout)
        self.kubectl("scale", "deploy", "applied", "--replicas=3")
        ready = self.kubectl("get", "deploy", "applied", "-o",
                             "jsonpath={.spec.replicas} {.status.readyReplicas}").stdout
        self.assertEqual(ready, "3 3")

    def test_label_and_annotate(self):
        self.kubectl("label", "configmap", "app-config", "team=edge")
        self.kubectl("annotate", "configmap", "app-config", "note=checked")
        out = self.kubectl("get", "cm", "app-config", "-o",
                           "jsonpath={.metadata.labels.team} {.metadata.annotations.note}").stdout
        self.assertEqual(out, "edge checked")
        selected = self.kubectl("get", "cm", "-l", "team=edge", "-o", "name").stdout.split()
        self.assertEqual(selected, ["configmap/app-config"])
        self.kubectl("label", "configmap", "app-config", "team-")
        self.assertEqual(self.kubectl("get", "cm", "-l", "team", "-o", "name").stdout.strip(), "")

    def test_delete_waits_until_gone(self):
        path = self.write("del.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                      "  name: doomed\n  namespace: default\ndata: {a: b}\n")
        self.kubectl("create", "-f", path)
        out = self.kubectl("delete", "-f", path, timeout=30)
        self.assertIn('configmap "doomed" deleted', out.stdout)
        gone = self.kubectl("get", "cm", "doomed", check=False)
        self.assertNotEqual(gone.returncode, 0)
        self.assertIn('Error from server (NotFound): configmaps "doomed" not found', gone.stderr)

    def test_namespace_delete_takes_its_objects(self):
        self.kubectl("create", "namespace", "scratch")
        self.kubectl("create", "configmap", "inside", "-n", "scratch", "--from-literal=a=b")
        out = self.kubectl("delete", "namespace", "scratch", timeout=30)
        self.assertIn('namespace "scratch" deleted', out.stdout)
        res = self.kubectl("get", "cm", "inside", "-n", "scratch", check=False)
        # kubectl looks the namespace up after a 404 and reports that it is gone.
        self.assertIn('namespaces "scratch" not found', res.stderr)
        missing = self.kubectl("create", "configmap", "x", "-n", "scratch", check=False)
        self.assertIn('namespaces "scratch" not found', missing.stderr)

    def test_error_messages(self):
        res = self.kubectl("get", "pod", "nope", check=False)
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stderr.strip(), 'Error from server (NotFound): pods "nope" not found')
        res = self.kubectl("get", "deploy", "nope", check=False)
        self.assertIn('deployments.apps "nope" not found', res.stderr)
        path = self.write("dup.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                      "  name: app-config\n  namespace: default\n")
        res = self.kubectl("create", "-f", path, check=False)
        self.assertIn('Error from server (AlreadyExists): error when creating', res.stderr)
        self.assertIn('configmaps "app-config" already exists', res.stderr)
        # A replace carrying a stale resourceVersion is a conflict.
        self.kubectl("create", "configmap", "racy", "--from-literal=a=1")
        rv = self.kubectl("get", "cm", "racy", "-o", "jsonpath={.metadata.resourceVersion}").stdout
        self.kubectl("label", "cm", "racy", "bump=1")
        stale = self.write("racy.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                        f"  name: racy\n  namespace: default\n"
                                        f"  resourceVersion: \"{rv}\"\ndata: {{a: '2'}}\n")
        res = self.kubectl("replace", "-f", stale, check=False)
        self.assertIn('Error from server (Conflict): error when replacing', res.stderr)
        self.assertIn('Operation cannot be fulfilled on configmaps "racy": the object has been '
                      'modified; please apply your changes to the latest version and try again',
                      res.stderr)
        res = self.kubectl("get", "pods", "-l", "app in (web", check=False)
        self.assertNotEqual(res.returncode, 0)

    def test_get_watch_sees_changes(self):
        proc = self.popen_kubectl("get", "configmaps", "-w")
        try:
            reader = LineReader(proc)
            e2e.wait_until(lambda: any(l.startswith("app-config") for l in reader.snapshot()),
                           timeout=20, what="initial list of kubectl get -w")
            self.kubectl("create", "configmap", "watched", "--from-literal=a=1")
            e2e.wait_until(lambda: any(l.split()[:2] == ["watched", "1"]
                                       for l in reader.snapshot()),
                           timeout=20, what="watched configmap added")
            self.kubectl("patch", "configmap", "watched", "--type=merge",
                         "-p", '{"data":{"b":"2"}}')
            e2e.wait_until(lambda: any(l.split()[:2] == ["watched", "2"]
                                       for l in reader.snapshot()),
                           timeout=20, what="watched configmap modified")
        finally:
            self.stop(proc)

    # ---- streams ----------------------------------------------------------------------------

    def test_logs(self):
        out = self.kubectl("logs", "web-1").stdout.splitlines()
        self.assertEqual(out, [f"line {n} from nginx" for n in range(1, 11)])
        tail = self.kubectl("logs", "db-0", "-c", "metrics", "--tail=2").stdout.splitlines()
        self.assertEqual(tail, ["line 9 from metrics", "line 10 from metrics"])
        bad = self.kubectl("logs", "db-0", "-c", "nope", check=False)
        self.assertIn("container nope is not valid for pod db-0", bad.stderr)

    def test_logs_follow(self):
        proc = self.popen_kubectl("logs", "-f", "web-1")
        try:
            reader = LineReader(proc)
            e2e.wait_until(lambda: "line 13 from nginx" in reader.snapshot(), timeout=20,
                           what="followed log lines")
            lines = reader.snapshot()
            self.assertEqual(lines[:13], [f"line {n} from nginx" for n in range(1, 14)])
        finally:
            self.stop(proc)

    def test_log_bytes_stream_in_api_server_sized_chunks(self):
        # The API server streams logs as one HTTP chunk per write of at most 32 KiB (io.Copy
        # through a flushing writer): the stand-in's throughput filler must too, or it would
        # hide per-chunk costs downstream.
        size = 300_000
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "chunked-log", "namespace": "default",
                            "annotations": {"standin.kubehub.io/log-bytes": str(size)}},
               "spec": {"containers": [{"name": "main", "image": "pause"}]}}
        status, _ = e2e.https_json(self.url + "/api/v1/namespaces/default/pods", token=TOKEN,
                                   ca_file=self.pki.ca_cert, method="POST", body=pod)
        self.assertEqual(status, 201)
        host, port = self.url.split("//", 1)[1].rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=self.pki.ca_cert)
        with ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=20),
                             server_hostname=host) as s:
            s.sendall((f"GET /api/v1/namespaces/default/pods/chunked-log/log HTTP/1.1\r\n"
                       f"Host: {host}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n").encode())
            raw = b""
            while not raw.endswith(b"\r\n0\r\n\r\n"):
                chunk = s.recv(65536)
                self.assertTrue(chunk, "the log ended without its last chunk")
                raw += chunk
            # Asked with Connection: close, the server closes once the log is written.
            self.assertEqual(s.recv(1), b"", "the connection stayed open after Connection: close")
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertIn(b"Transfer-Encoding: chunked", head)
        sizes, data = [], b""
        while True:
            line, _, body = body.partition(b"\r\n")
            n = int(line.split(b";")[0], 16)
            if n == 0:
                break
            sizes.append(n)
            data, body = data + body[:n], body[n + 2:]
        self.assertEqual(len(data), size)
        self.assertLessEqual(max(sizes), 32 * 1024, sizes)
        self.assertGreaterEqual(len(sizes), size // (32 * 1024), sizes)
        # The same bytes kubectl shows.
        self.assertEqual(data.decode(), self.kubectl("logs", "chunked-log").stdout)

    def test_exec(self):
        self.assertEqual(self.kubectl("exec", "web-1", "--", "echo", "hi").stdout, "hi\n")
        out = self.kubectl("exec", "-i", "web-1", "--", "cat", input="data\nmore\n").stdout
        self.assertEqual(out, "data\nmore\n")
        self.assertEqual(self.kubectl("exec", "web-1", "--", "hostname").stdout, "web-1\n")
        res = self.kubectl("exec", "web-1", "--", "sh", "-c", "exit 3", check=False)
        self.assertEqual(res.returncode, 3)
        self.assertIn("command terminated with exit code 3", res.stderr)
        res = self.kubectl("exec", "web-1", "--", "no-such-binary", check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn('exec: "no-such-binary": executable file not found in $PATH', res.stderr)

    # ---- identity ---------------------------------------------------------------------------

    def test_whoami_and_impersonation(self):
        out = self.kubectl("auth", "whoami").stdout
        self.assertIn("system:serviceaccount:kubehub-system:kubehub-agent", out)
        self.assertIn("[system:serviceaccounts system:authenticated]", out)
        out = self.kubectl("auth", "whoami", "--as", "alice", "--as-group", "devs").stdout
        self.assertRegex(out, r"Username\s+alice\n")
        self.assertIn("[devs system:authenticated]", out)
        heads = e2e.standin_requests(self.url, TOKEN, self.pki.ca_cert)
        review = [h for h in heads if "selfsubjectreviews" in h["target"]][-1]
        self.assertEqual(review["headers"]["Impersonate-User"], "alice")
        self.assertEqual(review["headers"]["Authorization"], "Bearer <redacted>")
        self.assertEqual(self.kubectl("auth", "can-i", "delete", "pods").stdout.strip(), "yes")

    def test_client_certificate_identity(self):
        crt, key = self.pki.issue("edge-admin", "edge-admin", client=True)
        kc = e2e.write_kubeconfig(self.work.join("cert-kubeconfig"), self.url, self.pki.ca_cert,
                                  cert=crt, key=key)
        out = e2e.kubectl(kc, "auth", "whoami").stdout
        self.assertRegex(out, r"Username\s+edge-admin\n")
        self.assertIn("[system:authenticated]", out)

    def test_explain_uses_openapi_v3(self):
        out = self.kubectl("explain", "pods.spec.containers.image").stdout
        self.assertIn("FIELD: image <string>", out)
        out = self.kubectl("explain", "widgets.spec").stdout
        self.assertIn("size\t<integer>", out)

    def test_watch_ends_when_client_goes_away(self):
        def watchers():
            status, body = e2e.https_json(self.url + "/standin/stats", TOKEN, self.pki.ca_cert)
            self.assertEqual(status, 200)
            return body["watchers"]
        base = watchers()
        proc = self.popen_kubectl("get", "pods", "-w")
        try:
            e2e.wait_until(lambda: watchers() == base + 1, timeout=20, what="watch registered")
        finally:
            self.stop(proc)
        e2e.wait_until(lambda: watchers() == base, timeout=20, what="watch released")

    def test_wrong_token_is_unauthorized(self):
        bad = e2e.write_kubeconfig(self.work.join("bad-kubeconfig"), self.url, self.pki.ca_cert,
                                   token="wrong")
        res = e2e.kubectl(bad, "get", "pods", check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("error: You must be logged in to the server (Unauthorized)", res.stderr)

    # ---- python3-kubernetes -----------------------------------------------------------------

    def test_python_list_selectors_and_paging(self):
        pods = self.core.list_namespaced_pod("default", label_selector="app=bench").items
        self.assertEqual(len(pods), BENCH_PODS)
        names = {p.metadata.name for p in self.core.list_namespaced_pod(
            "default", label_selector="app in (web, db),tier!=backend").items}
        self.assertEqual(names & {"web-1", "db-0"}, {"web-1"})
        none = self.core.list_namespaced_pod("default", label_selector="app=bench,!app").items
        self.assertEqual(none, [])
        one = self.core.list_pod_for_all_namespaces(field_selector="metadata.name=bench-00007")
        self.assertEqual([p.metadata.name for p in one.items], ["bench-00007"])
        on_node = self.core.list_namespaced_pod("default", label_selector="app=bench",
                                                field_selector="spec.nodeName=standin-node-1")
        self.assertEqual(len(on_node.items), (BENCH_PODS + 1) // 2)
        with self.assertRaises(ApiException) as ctx:
            self.core.list_namespaced_pod("default", field_selector="spec.foo=bar")
        self.assertEqual(ctx.exception.status, 400)
        self.assertIn("field label not supported: spec.foo", ctx.exception.body)
        with self.assertRaises(ApiException) as ctx:
            self.core.list_namespaced_pod("default", label_selector="app in (web")
        self.assertEqual(ctx.exception.status, 400)

        seen = []
        page = self.core.list_namespaced_pod("default", label_selector="app=bench", limit=10)
        first_rv = page.metadata.resource_version
        sizes = []
        while True:
            sizes.append(len(page.items))
            seen += [p.metadata.name for p in page.items]
            if not page.metadata._continue:
                break
            self.assertEqual(page.metadata.resource_version, first_rv)
            page = self.core.list_namespaced_pod("default", label_selector="app=bench", limit=10,
                                                 _continue=page.metadata._continue)
        self.assertEqual(sizes, [10, 10, 5])
        self.assertEqual(seen, [f"bench-{i:05d}" for i in range(1, BENCH_PODS + 1)])
        unfiltered = self.core.list_node(limit=1)  # three seeded nodes
        self.assertEqual(unfiltered.metadata.remaining_item_count, 2)

    def test_python_watch_from_resource_version(self):
        rv = self.core.list_namespaced_config_map("default").metadata.resource_version
        self.core.create_namespaced_config_map("default", kclient.V1ConfigMap(
            metadata=kclient.V1ObjectMeta(name="py-watched"), data={"a": "1"}))
        self.core.patch_namespaced_config_map("py-watched", "default", {"data": {"a": "2"}})
        events = []
        w = kwatch.Watch()
        for ev in w.stream(self.core.list_namespaced_config_map, "default", resource_version=rv,
                           timeout_seconds=10):
            events.append((ev["type"], ev["object"].metadata.name,
                           (ev["object"].data or {}).get("a")))
            if len(events) == 2:
                w.stop()
        self.assertEqual(events, [("ADDED", "py-watched", "1"), ("MODIFIED", "py-watched", "2")])

    def test_python_gone_after_compact(self):
        page = self.core.list_namespaced_pod("default", label_selector="app=bench", limit=5)
        old_rv = page.metadata.resource_version
        token = page.metadata._continue
        self.core.create_namespaced_config_map("default", kclient.V1ConfigMap(
            metadata=kclient.V1ObjectMeta(name="before-compact")))
        e2e.standin_compact(self.url, TOKEN, self.pki.ca_cert)
        with self.assertRaises(ApiException) as ctx:
            self.core.list_namespaced_pod("default", resource_version=old_rv,
                                          resource_version_match="Exact")
        self.assertEqual(ctx.exception.status, 410)
        with self.assertRaises(ApiException) as ctx:
            self.core.list_namespaced_pod("default", label_selector="app=bench", limit=5,
                                          _continue=token)
        self.assertEqual(ctx.exception.status, 410)
        self.assertIn("The provided continue parameter is too old", ctx.exception.body)
        with self.assertRaises(ApiException) as ctx:
            for _ in kwatch.Watch().stream(self.core.list_namespaced_config_map, "default",
                                           resource_version=old_rv, timeout_seconds=10):
                self.fail("a watch from a compacted resourceVersion delivered an event")
        self.assertEqual(ctx.exception.status, 410)
        self.assertIn("too old resource version", str(ctx.exception))

    def test_watch_bookmarks_and_initial_events(self):
        url = (self.url + "/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true"
               "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=2")
        status, body = e2e.https_json(url, TOKEN, self.pki.ca_cert)
        self.assertEqual(status, 200)
        import json
        events = [json.loads(line) for line in body.splitlines()]
        types = [e["type"] for e in events]
        end = types.index("BOOKMARK")
        self.assertTrue(all(t == "ADDED" for t in types[:end]))
        self.assertIn("app-config", [e["object"]["metadata"]["name"] for e in events[:end]])
        self.assertEqual(events[end]["object"]["metadata"]["annotations"],
                         {"k8s.io/initial-events-end": "true"})
        # A periodic bookmark (every 300ms) arrives before the 2s timeout ends the watch.
        self.assertIn("BOOKMARK", types[end + 1:])


if __name__ == "__main__":
    unittest.main()
