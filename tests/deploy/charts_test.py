"""The Helm charts in deploy/helm/, without a Kubernetes API server: every chart is linted
(--strict) and rendered with each of its ci/*-values.yaml, and the rendered objects are checked
(chart_checks.py); wrong values must fail `helm template` with a message that names the value;
deploy/manifests/ must match the charts (`make manifests`). helm comes from `make deps`
(.tools/bin/helm) or $KUBEHUB_HELM; without it the test fails."""
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import chart_checks  # noqa: E402
import manifests  # noqa: E402

NS = manifests.NAMESPACE

# Values that must be refused, each with words the error must contain. Layered over the
# chart's first ci values file, so that the bad value is the only thing wrong.
BAD_VALUES = {
    "kubehub-hub": [
        ("replicas: three", "replicas: Invalid type. Expected: integer"),
        ("replica: 3", "Additional property replica is not allowed"),
        ("peering:\n  drainTimeout: 30 seconds", "peering.drainTimeout: Does not match pattern"),
        ("tls:\n  reloadInterval: 10", "tls.reloadInterval: Invalid type. Expected: string"),
        ("logLevel: verbose", "logLevel must be one of the following"),
        ("service:\n  tunnel:\n    type: Loadbalancer", "service.tunnel.type must be one of"),
        ("fullnameOverride: Hub_Fleet", "fullnameOverride: Does not match pattern"),
        ("cacheMaxBytes: -1", "cacheMaxBytes: Must be greater than or equal to 0"),
        ("extraArgs: [max-connections=5]", "extraArgs.0: Does not match pattern"),
        ("metaserver:\n  url: metaserver:8443", "metaserver.url: Does not match pattern"),
        ("metaserver:\n  url: ''", "metaserver.url is required"),
        ("terminationGracePeriodSeconds: 30",
         "terminationGracePeriodSeconds (30) must exceed peering.drainTimeout (30s)"),
        ("fullnameOverride: a-hub-fleet-whose-name-is-far-too-long-for-pods",
         "is longer than 40 characters"),
    ],
    "kubehub-agent": [
        ("mode: bare-metal", "mode must be one of the following"),
        ("mode: native", "mode native serves only native commands: set commands"),
        ("extraArgs: [upstream-max-idle=5]", "extraArgs.0: Does not match pattern"),
    ],
    "kubehub-metaserver": [
        ("replicas: two", "replicas: Invalid type. Expected: integer"),
        ("postgres:\n  enabled: true", "Additional property postgres is not allowed"),
        ("database:\n  wait: 1minute", "database.wait: Does not match pattern"),
        ("hubUrl: http://hub.example.com", "hubUrl: Does not match pattern"),
        ("threads: 0", "threads: Must be greater than or equal to 1"),
        ("postgresql:\n  persistence:\n    size: lots", "postgresql.persistence.size: Does not match"),
        ("database:\n  url: postgresql://db/kubehub", "choose one database"),
        ("postgresql:\n  enabled: false", "a database is required"),
        ("tls:\n  existingSecret: ''", "tls.existingSecret is required"),
        ("tls:\n  insecureHttp: true", "tls.insecureHttp and tls.existingSecret exclude each other"),
    ],
}


def load(path):
    with open(path) as f:
        return yaml.safe_load(f) or {}


def merged(*dicts):
    out = {}
    for d in dicts:
        for k, v in (d or {}).items():
            out[k] = merged(out.get(k), v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class ChartsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.helm_bin = manifests.find_helm()  # fails the test, with "run `make deps`", if absent
        cls.home = tempfile.mkdtemp(prefix="kubehub-charts-")
        cls.charts = manifests.charts()
        cls.rendered = {}  # (chart, values file) -> objects

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.home, ignore_errors=True)

    def helm(self, *args):
        return manifests.helm(self.helm_bin, list(args), self.home)

    def cases(self):
        """(chart dir, ci values file) for every chart; a chart without ci values is reported
        as skipped with the reason, never passed over in silence."""
        for chart in self.charts:
            values = manifests.ci_values(chart)
            if not values:
                with self.subTest(chart=os.path.basename(chart)):
                    self.skipTest(f"{os.path.basename(chart)} has no ci/*-values.yaml to test with")
            for v in values:
                yield chart, v

    def template(self, chart, values_file, *extra):
        name = os.path.basename(chart)
        r = self.helm("template", name, chart, "--namespace", NS, "-f", values_file, *extra)
        return r

    def objects(self, chart, values_file):
        key = (chart, values_file)
        if key not in self.rendered:
            r = self.template(chart, values_file)
            self.assertEqual(r.returncode, 0, f"helm template {os.path.relpath(chart, ROOT)} -f "
                             f"{os.path.basename(values_file)} failed:\n{r.stderr}")
            self.rendered[key] = [d for d in yaml.safe_load_all(r.stdout) if d]
        return copy.deepcopy(self.rendered[key])

    def chart_problems(self, chart, values_file, objs):
        """Generic checks, plus the hub's and the metaserver's own."""
        name = os.path.basename(chart)
        values = merged(manifests.chart_defaults(chart), load(values_file))
        fullname = values.get("fullnameOverride") or name
        problems = chart_checks.check_objects(objs)
        if name == "kubehub-hub":
            problems += chart_checks.check_hub(objs, fullname, peering=values["peering"]["enabled"])
        elif name == "kubehub-metaserver":
            problems += chart_checks.check_metaserver(objs, fullname)
        return problems

    def test_lint_strict_with_every_ci_values_file(self):
        for chart, values in self.cases():
            with self.subTest(chart=os.path.basename(chart), values=os.path.basename(values)):
                r = self.helm("lint", "--strict", chart, "--namespace", NS, "-f", values)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_rendered_objects_are_sound(self):
        for chart, values in self.cases():
            with self.subTest(chart=os.path.basename(chart), values=os.path.basename(values)):
                objs = self.objects(chart, values)
                self.assertTrue(chart_checks.workloads(objs), "no workload rendered")
                problems = self.chart_problems(chart, values, objs)
                self.assertEqual(problems, [], "\n".join(problems))

    def test_rendered_args_are_flags_the_binaries_take(self):
        """Every kubehub container's args, as rendered, parse with the real binary (an unknown
        flag or a malformed duration fails at parse, before --help prints)."""
        bin_dir = os.environ.get("KUBEHUB_BIN_DIR") or os.path.join(ROOT, "build", "bin")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBEHUB_")}
        checked = 0
        for chart, values in self.cases():
            for obj in self.objects(chart, values):
                spec = obj.get("spec", {}).get("template", {}).get("spec", {})
                for c in spec.get("containers", []):
                    repo = c.get("image", "").rsplit(":", 1)[0]
                    if not repo.startswith("kubehub/"):
                        continue
                    binary = os.path.join(bin_dir, "kubehub-" + repo.split("/", 1)[1])
                    args = [re.sub(r"\$\((\w+)\)", "x", a) for a in c.get("args", [])]
                    with self.subTest(chart=os.path.basename(chart), values=os.path.basename(values),
                                      container=c["name"]):
                        self.assertTrue(os.path.exists(binary), f"{binary} not built")
                        r = subprocess.run([binary, *args, "--help"], capture_output=True, text=True,
                                           env=env, timeout=30)
                        self.assertEqual(r.returncode, 0, f"{binary} refused {args}:\n{r.stderr}")
                        checked += 1
        self.assertGreater(checked, 0)

    def test_checks_catch_broken_charts(self):
        """The checks above are not vacuous: each breakage of a good rendering is reported."""
        hub = os.path.join(manifests.CHARTS_DIR, "kubehub-hub")
        values = manifests.ci_values(hub)[0]
        good = self.objects(hub, values)
        self.assertEqual(self.chart_problems(hub, values, good), [])

        def find(objs, kind, suffix=""):
            return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"].endswith(suffix))

        def hub_container(objs):
            return find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]

        breakages = {
            "no readiness probe": lambda o: hub_container(o).pop("readinessProbe"),
            "no liveness probe": lambda o: hub_container(o).pop("livenessProbe"),
            "probe on an undeclared port":
                lambda o: hub_container(o)["livenessProbe"]["httpGet"].update(port="metrics"),
            "runs as root": lambda o: find(o, "Deployment")["spec"]["template"]["spec"]
                ["securityContext"].update(runAsUser=0),
            "writable root filesystem":
                lambda o: hub_container(o)["securityContext"].update(readOnlyRootFilesystem=False),
            "no resource requests": lambda o: hub_container(o)["resources"].pop("requests"),
            "pod labels do not match the selector": lambda o: find(o, "Deployment")["spec"]
                ["template"]["metadata"]["labels"].update({"app.kubernetes.io/instance": "other"}),
            "Service selects nothing": lambda o: find(o, "Service", "-tunnel")["spec"]["selector"]
                .update({"app.kubernetes.io/name": "kubehub-hubs"}),
            "Service targets an unknown port":
                lambda o: find(o, "Service", "-admin")["spec"]["ports"][0].update(targetPort="metrics"),
            "PDB selects nothing": lambda o: find(o, "PodDisruptionBudget")["spec"]["selector"]
                ["matchLabels"].update({"app.kubernetes.io/name": "hub"}),
            "no --peer-listen": lambda o: hub_container(o)["args"].remove("--peer-listen=0.0.0.0:8445"),
            "no --hub-id": lambda o: hub_container(o)["args"].remove("--hub-id=$(POD_NAME)"),
            "grace period within the drain": lambda o: find(o, "Deployment")["spec"]["template"]
                ["spec"].update(terminationGracePeriodSeconds=30),
            "undefined $(VAR)": lambda o: hub_container(o)["env"].pop(0),
            "mount without a volume":
                lambda o: hub_container(o)["volumeMounts"].append({"name": "nope", "mountPath": "/x"}),
            "object without a name": lambda o: find(o, "ServiceAccount")["metadata"].pop("name"),
        }
        for what, breakage in breakages.items():
            with self.subTest(breakage=what):
                objs = copy.deepcopy(good)
                breakage(objs)
                self.assertNotEqual(self.chart_problems(hub, values, objs), [], f"{what} went unnoticed")

    def test_bad_values_fail_with_a_clear_message(self):
        bad_dir = os.path.join(self.home, "bad-values")
        os.makedirs(bad_dir, exist_ok=True)
        for name, cases in BAD_VALUES.items():
            chart = os.path.join(manifests.CHARTS_DIR, name)
            base = manifests.ci_values(chart)[0]
            for i, (text, message) in enumerate(cases):
                with self.subTest(chart=name, values=text):
                    path = os.path.join(bad_dir, f"{name}-{i}.yaml")
                    with open(path, "w") as f:
                        f.write(text + "\n")
                    r = self.template(chart, base, "-f", path)
                    self.assertNotEqual(r.returncode, 0, f"helm template accepted:\n{text}")
                    self.assertIn(message, r.stderr)

    def test_schemas_close_the_top_level(self):
        """A typo in a top-level key fails instead of being ignored, for every chart with a
        schema; the hub and metaserver charts must have one."""
        for chart in self.charts:
            name = os.path.basename(chart)
            path = os.path.join(chart, "values.schema.json")
            with self.subTest(chart=name):
                if not os.path.exists(path):
                    self.assertNotIn(name, BAD_VALUES, f"{name} has no values.schema.json")
                    self.skipTest(f"{name} has no values.schema.json")
                schema = load(path)
                self.assertIs(schema.get("additionalProperties"), False)
                # Every default value is declared in the schema.
                self.assertEqual(sorted(set(manifests.chart_defaults(chart)) - set(schema["properties"])), [])

    def test_notes_tell_the_next_step(self):
        for chart, values in self.cases():
            name = os.path.basename(chart)
            with self.subTest(chart=name, values=os.path.basename(values)):
                # helm renders NOTES.txt only on install; render a copy as a ConfigMap instead.
                copy_dir = os.path.join(self.home, "notes", name)
                shutil.rmtree(copy_dir, ignore_errors=True)
                shutil.copytree(chart, copy_dir)
                shutil.move(os.path.join(copy_dir, "templates", "NOTES.txt"),
                            os.path.join(copy_dir, "notes.txt"))
                with open(os.path.join(copy_dir, "templates", "zz-notes.yaml"), "w") as f:
                    f.write('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n'
                            '  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}\n')
                r = self.helm("template", name, copy_dir, "--namespace", NS, "-f", values,
                              "--show-only", "templates/zz-notes.yaml")
                self.assertEqual(r.returncode, 0, r.stderr)
                notes = yaml.safe_load(r.stdout)["data"]["notes"]
                self.assertNotIn("<no value>", notes)
                if name == "kubehub-hub":
                    fleet = merged(manifests.chart_defaults(chart), load(values)).get("fullnameOverride") or name
                    self.assertIn(f"kubehubctl user create {fleet} --tenant platform --roles hub", notes)
                    self.assertIn(f"kubehubctl token issue --user {fleet} ", notes)
                if name == "kubehub-metaserver":
                    self.assertIn("kubehubctl whoami", notes)

    def test_metaserver_seals_its_keys_by_default(self):
        """The signing keys and the CA key are sealed at rest unless turned off: the metaserver
        gets a key file from the Secret named, or FULLNAME-encryption. The chart never renders
        that Secret itself: a key made up at render time changes with every render (helm
        template, GitOps) and would leave the sealed keys unreadable."""
        chart = next(c for c in self.charts if os.path.basename(c) == "kubehub-metaserver")
        values = manifests.ci_values(chart)[0]

        def render(*extra):
            r = self.template(chart, values, *extra)
            self.assertEqual(r.returncode, 0, r.stderr)
            objs = [d for d in yaml.safe_load_all(r.stdout) if d]
            _, c = chart_checks._container_named(objs, "kubehub-metaserver", "metaserver")
            spec = next(o for o in objs if o.get("kind") == "Deployment")["spec"]["template"]["spec"]
            volume = next((v["secret"]["secretName"] for v in spec["volumes"] if v["name"] == "encryption"), None)
            secrets = {o["metadata"]["name"] for o in objs if o.get("kind") == "Secret"}
            return c["args"], volume, secrets

        for extra in ((), ("--set", "generateSecrets=false")):
            args, volume, secrets = render(*extra)
            self.assertIn("--encryption-key-file=/etc/kubehub/encryption/keys", args)
            self.assertEqual(volume, "kubehub-metaserver-encryption")
            self.assertNotIn("kubehub-metaserver-encryption", secrets)
        args, volume, secrets = render("--set", "encryption.existingSecret=my-keys")
        self.assertIn("--encryption-key-file=/etc/kubehub/encryption/keys", args)
        self.assertEqual(volume, "my-keys")
        args, volume, secrets = render("--set", "encryption.enabled=false")
        self.assertFalse([a for a in args if a.startswith("--encryption-key-file")])
        self.assertIsNone(volume)

    def test_agent_mode_is_passed_and_native_mode_holds_no_rbac(self):
        """kubernetes (the default): --mode=kubernetes, the ClusterRole for impersonation,
        discovery and the cached types, and a ServiceAccount token. native: --mode=native and no
        right at all on the API server (no ClusterRole, Role or bindings, no token mounted), the
        enrolled certificate kept in the pod's volume instead of a Secret."""
        chart = os.path.join(manifests.CHARTS_DIR, "kubehub-agent")
        ci = {os.path.basename(v): v for v in manifests.ci_values(chart)}
        rbac_kinds = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

        def agent(objs):
            d = next(o for o in objs if o["kind"] == "Deployment")
            return d["spec"]["template"]["spec"]

        k8s = self.objects(chart, ci["01-quickstart-values.yaml"])
        self.assertIn("--mode=kubernetes", agent(k8s)["containers"][0]["args"])
        self.assertTrue(agent(k8s)["automountServiceAccountToken"])
        self.assertEqual({o["kind"] for o in k8s} & rbac_kinds, rbac_kinds)

        native = self.objects(chart, ci["03-native-values.yaml"])
        spec = agent(native)
        args = spec["containers"][0]["args"]
        self.assertIn("--mode=native", args)
        self.assertIs(spec["automountServiceAccountToken"], False)
        self.assertEqual({o["kind"] for o in native} & rbac_kinds, set(), "no RBAC in native mode")
        self.assertIn("--credentials-dir=/var/lib/kubehub/credentials", args)
        self.assertFalse([a for a in args if a.startswith(("--credentials-secret", "--namespace"))], args)
        self.assertIn("--commands-file=/etc/kubehub/commands/commands.yaml", args)
        self.assertFalse([o for o in native if o["kind"] == "Secret"
                          and o["metadata"]["name"].endswith("-credentials")])
        self.assertEqual([v["emptyDir"] for v in spec["volumes"] if v["name"] == "credentials"], [{}])

    def test_manifests_are_up_to_date(self):
        problems, skipped = manifests.differences(self.helm_bin)
        for s in skipped:
            print(f"note: {s}", file=sys.stderr)
        self.assertEqual(problems, [], "\n".join(problems))
        for path in manifests.charts():
            name = os.path.basename(path) + ".yaml"
            if not os.path.exists(os.path.join(manifests.MANIFESTS_DIR, name)):
                continue
            with self.subTest(manifest=name):
                with open(os.path.join(manifests.MANIFESTS_DIR, name)) as f:
                    docs = [d for d in yaml.safe_load_all(f) if d]
                problems = chart_checks.check_objects(docs)
                self.assertEqual(problems, [], "\n".join(problems))
                # Secrets are the reader's to create (the header names them), never made up here;
                # an empty one a workload fills itself (the agent's credentials) is fine.
                self.assertEqual([d["metadata"]["name"] for d in docs
                                  if d["kind"] == "Secret" and any(
                                      {**(d.get("data") or {}), **(d.get("stringData") or {})}.values())],
                                 [])

if __name__ == "__main__":
    unittest.main()
