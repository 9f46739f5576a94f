"""Checks on the Kubernetes objects a chart renders, as pure functions: each returns a list of
problems (empty when all is well), so that charts_test.py can also prove they catch breakage."""
import re

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def _matches(selector, labels):
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())


def _name(obj):
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def _seconds(duration):
    m = re.fullmatch(r"([0-9.]+)(ms|s|m|h)?", duration)
    if not m:
        return None
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def workloads(objs):
    return [o for o in objs if o.get("kind") in WORKLOAD_KINDS]


def pod_labels(workload):
    return ((workload.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}


def containers(workload):
    return workload["spec"]["template"]["spec"].get("containers") or []


def check_objects(objs):
    """Generic rules every chart's objects follow."""
    problems = []
    seen = set()
    for o in objs:
        meta = o.get("metadata") or {}
        if not o.get("apiVersion") or not o.get("kind") or not meta.get("name"):
            problems.append(f"an object lacks apiVersion, kind or metadata.name: {str(o)[:120]}")
            continue
        key = (o["kind"], meta["name"])
        if key in seen:
            problems.append(f"{_name(o)} is rendered twice")
        seen.add(key)
    loads = workloads(objs)
    for w in loads:
        problems += _check_workload(w, loads)
    for s in (o for o in objs if o.get("kind") == "Service"):
        problems += _check_service(s, loads)
    for p in (o for o in objs if o.get("kind") == "PodDisruptionBudget"):
        selector = ((p.get("spec") or {}).get("selector") or {}).get("matchLabels")
        hits = [w for w in loads if _matches(selector, pod_labels(w))]
        if len(hits) != 1:
            problems.append(f"{_name(p)}'s selector {selector} matches the pods of {len(hits)} "
                            "workloads, not exactly one")
    services = [o for o in objs if o.get("kind") == "Service"]
    for m in (o for o in objs if o.get("kind") == "ServiceMonitor"):
        selector = ((m.get("spec") or {}).get("selector") or {}).get("matchLabels")
        hits = [s for s in services if _matches(selector, s["metadata"].get("labels"))]
        if not hits:
            problems.append(f"{_name(m)}'s selector {selector} matches no Service")
        for e in (m.get("spec") or {}).get("endpoints") or []:
            for s in hits:
                if e.get("port") not in {p.get("name") for p in s["spec"].get("ports") or []}:
                    problems.append(f"{_name(m)} scrapes port {e.get('port')!r}, which "
                                    f"{_name(s)} does not have")
    return problems


def _check_workload(w, loads):
    problems = []
    name = _name(w)
    spec = w.get("spec") or {}
    selector = (spec.get("selector") or {}).get("matchLabels")
    if not _matches(selector, pod_labels(w)):
        problems.append(f"{name}'s selector {selector} does not match its pod labels {pod_labels(w)}")
    for other in loads:
        if other is not w and _matches(selector, pod_labels(other)):
            problems.append(f"{name}'s selector {selector} also takes the pods of {_name(other)}")
    pod = spec["template"]["spec"]
    psc = pod.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True:
        problems.append(f"{name}: the pod's securityContext lacks runAsNonRoot: true")
    if ((psc.get("seccompProfile") or {}).get("type")) != "RuntimeDefault":
        problems.append(f"{name}: the pod's seccompProfile is not RuntimeDefault")
    volumes = {v["name"] for v in pod.get("volumes") or []}
    volumes |= {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates") or []}
    for c in containers(w):
        cname = f"{name} container {c.get('name')}"
        csc = c.get("securityContext") or {}
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        if uid is None or uid == 0:
            problems.append(f"{cname} does not run as a non-root user id")
        if csc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{cname}: allowPrivilegeEscalation is not false")
        if csc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{cname}: readOnlyRootFilesystem is not true")
        if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
            problems.append(f"{cname} does not drop ALL capabilities")
        image = c.get("image") or ""
        if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":"):
            problems.append(f"{cname}: image {image!r} has no tag")
        requests = (c.get("resources") or {}).get("requests") or {}
        if "cpu" not in requests or "memory" not in requests:
            problems.append(f"{cname} requests no cpu or no memory")
        port_names = {p.get("name") for p in c.get("ports") or []}
        for probe in ("livenessProbe", "readinessProbe"):
            p = c.get(probe)
            if not p:
                problems.append(f"{cname} has no {probe}")
                continue
            port = (p.get("httpGet") or p.get("tcpSocket") or {}).get("port")
            if isinstance(port, str) and port not in port_names:
                problems.append(f"{cname}'s {probe} uses port {port!r}, which it does not declare")
        for m in c.get("volumeMounts") or []:
            if m["name"] not in volumes:
                problems.append(f"{cname} mounts volume {m['name']!r}, which the pod does not have")
        env = {e["name"] for e in c.get("env") or []}
        for arg in (c.get("args") or []) + (c.get("command") or []):
            for var in re.findall(r"\$\((\w+)\)", str(arg)):
                if var not in env:
                    problems.append(f"{cname}: argument {arg!r} refers to $({var}), which is not in "
                                    "its env")
    return problems


def _check_service(s, loads):
    name = _name(s)
    spec = s.get("spec") or {}
    selector = spec.get("selector")
    hits = [w for w in loads if _matches(selector, pod_labels(w))]
    if len(hits) != 1:
        return [f"{name}'s selector {selector} matches the pods of {len(hits)} workloads, not "
                "exactly one"]
    problems = []
    ports = [p for c in containers(hits[0]) for p in c.get("ports") or []]
    for p in spec.get("ports") or []:
        target = p.get("targetPort", p.get("port"))
        if isinstance(target, str):
            ok = target in {q.get("name") for q in ports}
        else:
            ok = target in {q.get("containerPort") for q in ports}
        if not ok:
            problems.append(f"{name} port {p.get('name')!r} targets {target!r}, which no container "
                            f"of {_name(hits[0])} declares")
    return problems


def _container_named(objs, kind_name, container):
    for w in workloads(objs):
        if w["metadata"]["name"] == kind_name:
            for c in containers(w):
                if c["name"] == container:
                    return w, c
    return None, None


def check_hub(objs, fullname, peering=True):
    """The hub fleet: hub id from the pod name, advertised at the pod IP, peering, drain within
    the grace period, the metaserver token."""
    w, c = _container_named(objs, fullname, "hub")
    if c is None:
        return [f"no Deployment {fullname} with a container named hub"]
    problems = []
    args = c.get("args") or []
    for want in ("--hub-id=$(POD_NAME)", "--advertise-host=$(POD_IP)",
                 "--metaserver-token-file=/etc/kubehub/metaserver-token/token"):
        if want not in args:
            problems.append(f"the hub's args lack {want}")
    fields = {e["name"]: ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
              for e in c.get("env") or []}
    if fields.get("POD_NAME") != "metadata.name" or fields.get("POD_IP") != "status.podIP":
        problems.append("POD_NAME/POD_IP do not come from the downward API (metadata.name, "
                        "status.podIP)")
    if not any(a.startswith("--tls-reload-interval=") for a in args):
        problems.append("the hub's args lack --tls-reload-interval")
    port_names = {p["name"] for p in c.get("ports") or []}
    if peering:
        if "--peer-listen=0.0.0.0:8445" not in args:
            problems.append("peering is on but the hub's args lack --peer-listen=0.0.0.0:8445")
        if "peer" not in port_names:
            problems.append("peering is on but the hub declares no port named peer")
        drain = [a.split("=", 1)[1] for a in args if a.startswith("--drain-timeout=")]
        grace = w["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        if not drain:
            problems.append("peering is on but the hub's args lack --drain-timeout")
        elif _seconds(drain[0]) is None or grace <= _seconds(drain[0]):
            problems.append(f"terminationGracePeriodSeconds {grace} does not exceed "
                            f"--drain-timeout={drain[0]}")
    elif any(a.startswith("--peer-listen") for a in args):
        problems.append("peering is off but the hub's args have --peer-listen")
    if not any(o.get("kind") == "PodDisruptionBudget" for o in objs) and w["spec"]["replicas"] > 1:
        problems.append("several hubs and no PodDisruptionBudget")
    return problems


def check_metaserver(objs, fullname):
    """The metaserver: database URL from the environment, admin token from a file, TLS or an
    explicit choice of plain HTTP."""
    w, c = _container_named(objs, fullname, "metaserver")
    if c is None:
        return [f"no Deployment {fullname} with a container named metaserver"]
    problems = []
    args = c.get("args") or []
    env = {e["name"]: e for e in c.get("env") or []}
    if "KUBEHUB_DATABASE_URL" not in env:
        problems.append("the metaserver gets no KUBEHUB_DATABASE_URL")
    if not any(a.startswith("--admin-token-file=") for a in args):
        problems.append("the metaserver's args lack --admin-token-file")
    if ("--insecure-http" in args) == any(a.startswith("--tls-cert=") for a in args):
        problems.append("the metaserver must have exactly one of --tls-cert and --insecure-http")
    for o in objs:
        if o.get("kind") == "Secret":
            for k, v in (o.get("data") or {}).items():
                if not v:
                    problems.append(f"{_name(o)} has an empty {k}")
    return problems
