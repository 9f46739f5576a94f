#!/usr/bin/env python3
"""Renders every chart in deploy/helm/ into deploy/manifests/<chart>.yaml: plain YAML for those
who do not use Helm. Each chart is rendered as release <chart> in namespace kubehub-system with
its first ci/*-values.yaml (the quickstart), or its defaults when it has none. Secret values are
never made up here (generateSecrets=false where a chart has it), so the files are the same on
every run; each file's header names the Secrets to create first.

    scripts/manifests.py          write deploy/manifests/
    scripts/manifests.py --check  exit 1 when deploy/manifests/ differs from the charts

tests/deploy/charts_test.py imports this module."""
import argparse
import difflib
import glob
import os
import subprocess
import sys
import tempfile
import textwrap

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CHARTS_DIR = os.path.join(ROOT, "deploy", "helm")
MANIFESTS_DIR = os.path.join(ROOT, "deploy", "manifests")
NAMESPACE = "kubehub-system"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


class NoQuickstart(RuntimeError):
    """A chart without ci/*-values.yaml whose defaults do not render: nothing to publish."""


def find_helm():
    """The helm binary: $KUBEHUB_HELM, else the one `make deps` installs into .tools/bin."""
    path = os.environ.get("KUBEHUB_HELM") or os.path.join(ROOT, ".tools", "bin", "helm")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError(f"helm not found at {path}: run `make deps` (it installs helm into "
                           ".tools/bin), or point KUBEHUB_HELM at a helm v3 binary")
    return path


def helm_env(home):
    """An environment in which helm reads and writes nothing of the user's (no repositories,
    no plugins, no kubeconfig: rendering needs none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    env.update({"HELM_CACHE_HOME": os.path.join(home, "cache"),
                "HELM_CONFIG_HOME": os.path.join(home, "config"),
                "HELM_DATA_HOME": os.path.join(home, "data"),
                "KUBECONFIG": os.path.join(home, "no-kubeconfig")})
    return env


def charts():
    return sorted(d for d in glob.glob(os.path.join(CHARTS_DIR, "*"))
                  if os.path.isfile(os.path.join(d, "Chart.yaml")))


def ci_values(chart):
    return sorted(glob.glob(os.path.join(chart, "ci", "*-values.yaml")))


def chart_defaults(chart):
    with open(os.path.join(chart, "values.yaml")) as f:
        return yaml.safe_load(f) or {}


def helm(helm_bin, args, home):
    return subprocess.run([helm_bin, *args], capture_output=True, text=True, timeout=120,
                          env=helm_env(home))


def secrets_expected(docs):
    """Names of the Secrets the workloads mount or read but the rendered objects do not create."""
    created = {d["metadata"]["name"] for d in docs if d.get("kind") == "Secret"}
    wanted = set()
    for d in docs:
        if d.get("kind") not in WORKLOAD_KINDS:
            continue
        pod = d["spec"]["template"]["spec"]
        for v in pod.get("volumes") or []:
            if "secret" in v:
                wanted.add(v["secret"]["secretName"])
        for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    wanted.add(ref["name"])
    return sorted(wanted - created)


def render(helm_bin, chart, home):
    """The manifest file's text for one chart."""
    name = os.path.basename(chart)
    values = ci_values(chart)[:1]
    args = ["template", name, chart, "--namespace", NAMESPACE]
    for v in values:
        args += ["-f", v]
    defaults = chart_defaults(chart)
    if "generateSecrets" in defaults:
        args += ["--set", "generateSecrets=false"]
    if "existingSecret" in (defaults.get("enrollment") or {}):
        # The agent's bootstrap token is the reader's (kubehubctl cluster install), never a
        # placeholder in a published file.
        args += ["--set", f"enrollment.existingSecret={name}-bootstrap",
                 "--set", "enrollment.bootstrapToken="]
    r = helm(helm_bin, args, home)
    if r.returncode != 0 and not values:
        raise NoQuickstart(f"{name} has no ci/*-values.yaml and its defaults do not render "
                           f"({r.stderr.strip().splitlines()[0]}): no manifest for it")
    if r.returncode != 0:
        source = os.path.relpath(values[0], ROOT)
        raise RuntimeError(f"helm template {name} with {source} failed:\n{r.stderr.strip()}")
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    source = f"ci/{os.path.basename(values[0])}" if values else "its default values"
    text = (f"{name}: rendered by `make manifests` from deploy/helm/{name} with {source}, as "
            f"release {name} in namespace {NAMESPACE}. Generated: change the chart or its values "
            "and run `make manifests` again.")
    expected = secrets_expected(docs)
    if expected:
        text += (" Create these Secrets first (README, \"Install on Kubernetes\"): " +
                 ", ".join(expected) + ".")
    header = ["# " + line for line in textwrap.wrap(text, 96, break_on_hyphens=False)]
    header += [f"#   kubectl create namespace {NAMESPACE}",
               f"#   kubectl apply -f deploy/manifests/{name}.yaml"]
    return "\n".join(header) + "\n" + r.stdout


def render_all(helm_bin):
    """({file name: text} for every chart, [why a chart has no manifest])."""
    rendered, skipped = {}, []
    with tempfile.TemporaryDirectory(prefix="kubehub-helm-") as home:
        for c in charts():
            try:
                rendered[os.path.basename(c) + ".yaml"] = render(helm_bin, c, home)
            except NoQuickstart as e:
                skipped.append(str(e))
    return rendered, skipped


def differences(helm_bin):
    """(what differs between deploy/manifests/ and the charts, one message per file; the
    charts without a manifest, and why)."""
    problems = []
    rendered, skipped = render_all(helm_bin)
    on_disk = {os.path.basename(p) for p in glob.glob(os.path.join(MANIFESTS_DIR, "*.yaml"))}
    for name in sorted(on_disk - set(rendered)):
        problems.append(f"deploy/manifests/{name} belongs to no chart in deploy/helm/: delete it")
    for name, text in sorted(rendered.items()):
        path = os.path.join(MANIFESTS_DIR, name)
        if not os.path.exists(path):
            problems.append(f"deploy/manifests/{name} is missing: run `make manifests`")
            continue
        with open(path) as f:
            current = f.read()
        if current != text:
            diff = "".join(list(difflib.unified_diff(current.splitlines(True), text.splitlines(True),
                                                     f"deploy/manifests/{name}", "rendered now"))[:40])
            problems.append(f"deploy/manifests/{name} is out of date with its chart: run "
                            f"`make manifests`\n{diff}")
    return problems, skipped


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare, exit 1 on differences")
    args = parser.parse_args()
    try:
        helm_bin = find_helm()
        if args.check:
            problems, skipped = differences(helm_bin)
            for p in skipped + problems:
                print(f"manifests: {p}", file=sys.stderr)
            return 1 if problems else 0
        rendered, skipped = render_all(helm_bin)
    except RuntimeError as e:
        print(f"manifests: {e}", file=sys.stderr)
        return 1
    for s in skipped:
        print(f"manifests: WARNING: {s}", file=sys.stderr)
    os.makedirs(MANIFESTS_DIR, exist_ok=True)
    for stale in glob.glob(os.path.join(MANIFESTS_DIR, "*.yaml")):
        if os.path.basename(stale) not in rendered:
            os.remove(stale)
    for name, text in rendered.items():
        with open(os.path.join(MANIFESTS_DIR, name), "w") as f:
            f.write(text)
        print(f"deploy/manifests/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
