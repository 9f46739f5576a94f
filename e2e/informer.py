"""An informer-style list+watch with the Debian python3-kubernetes client, through the hub.
Writes the names of the configmaps labelled informer=yes it believes exist to OUT after every
change. Relists on 410 like client-go's reflector. With a third argument EVENTS, also appends
every watch event it receives to EVENTS, one JSON line each ({"type","name","rv"}), and a line
{"type":"RELIST","rv"} for every relist, so a test can check none was delivered twice."""
import json
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

kubeconfig, out = sys.argv[1], sys.argv[2]
events_path = sys.argv[3] if len(sys.argv) > 3 else None


def record(entry):
    if events_path:
        with open(events_path, "a") as f:
            f.write(json.dumps(entry) + "\n")
config.load_kube_config(config_file=kubeconfig)
v1 = client.CoreV1Api()
selector = "informer=yes"
state = {}


def dump():
    with open(out + ".tmp", "w") as f:
        json.dump(sorted(state), f)
    import os
    os.replace(out + ".tmp", out)


def relist():
    lst = v1.list_namespaced_config_map("default", label_selector=selector)
    state.clear()
    for cm in lst.items:
        state[cm.metadata.name] = cm.metadata.resource_version
    dump()
    record({"type": "RELIST", "rv": lst.metadata.resource_version})
    return lst.metadata.resource_version


rv = relist()
print("informer ready", flush=True)
while True:
    try:
        w = watch.Watch()
        for ev in w.stream(v1.list_namespaced_config_map, "default", label_selector=selector,
                           resource_version=rv, timeout_seconds=30, allow_watch_bookmarks=True,
                           _request_timeout=60):
            obj = ev["object"]
            rv = obj.metadata.resource_version
            record({"type": ev["type"], "name": obj.metadata.name, "rv": rv})
            if ev["type"] == "DELETED":
                state.pop(obj.metadata.name, None)
            elif ev["type"] in ("ADDED", "MODIFIED"):
                state[obj.metadata.name] = rv
            dump()
    except ApiException as e:
        if e.status == 410:
            rv = relist()
            continue
        print(f"watch error {e.status}: retrying", flush=True)
        try:
            rv = relist()
        except Exception as e2:  # noqa: BLE001 - hub may be briefly unable to reach the edge
            print(f"relist failed: {e2}", flush=True)
            import time
            time.sleep(0.5)
    except Exception as e:  # noqa: BLE001 - connection dropped: re-watch (or relist)
        print(f"watch ended: {e}", flush=True)
        try:
            rv = relist()
        except Exception as e2:  # noqa: BLE001
            print(f"relist failed: {e2}", flush=True)
            import time
            time.sleep(0.5)
