"""Step 5, memory: hub memory per cached object against the object's JSON size."""
import json
import time

from ..config import EDGE_TOKEN
from ..console import note, say
from ..meters import rss_bytes
from ..clients import cache_types, request


def bench_cache_memory(system, results):
    """5. bytes of hub memory per cached object vs the object's JSON size."""
    say("5. hub memory per cached object")
    time.sleep(1.0)
    rss_after = rss_bytes(system.hub_cache.proc.proc.pid)
    types = cache_types(system.hub_cache.admin)
    objects = sum(t["objects"] for t in types)
    cache_bytes = sum(t["bytes"] for t in types)
    json_bytes = 0
    json_objects = 0
    for t in types:
        resource_name, _, group = t["resource"].partition(".")
        version = f"{group}/{t['version']}" if group else t["version"]
        group_path = f"/apis/{version}" if group else f"/api/{version}"
        kind_hint = None
        status, raw = request(system.standin_url, f"{group_path}/{resource_name}", EDGE_TOKEN, timeout=120)
        if status != 200:
            note(f"could not list {t['resource']} directly: HTTP {status}")
            continue
        doc = json.loads(raw)
        kind_hint = doc.get("kind", "").removesuffix("List")
        for item in doc.get("items", []):
            item = {"apiVersion": version, "kind": kind_hint, **item}
            json_bytes += len(json.dumps(item, separators=(",", ":")).encode())
            json_objects += 1
    avg_json = json_bytes / max(1, json_objects)
    rss_delta = rss_after - system.cache_rss_before
    per_obj_rss = rss_delta / max(1, objects)
    per_obj_cache = cache_bytes / max(1, objects)
    note(f"{objects:,} cached objects; JSON {avg_json:,.0f} B/object; hub RSS delta {rss_delta / 2**20:,.1f} MiB "
         f"= {per_obj_rss:,.0f} B/object ({per_obj_rss / avg_json:.2f}x); /debug/cache {per_obj_cache:,.0f} B/object "
         f"({per_obj_cache / avg_json:.2f}x)")
    results.add("cache.memory.rss", "hub RSS per cached object", "B", per_obj_rss, avg_json, "object JSON",
                target=2 * avg_json, target_text="<= 2x JSON")
    results.add("cache.memory.debug", "/debug/cache bytes per cached object", "B", per_obj_cache, avg_json,
                "object JSON", target=2 * avg_json, target_text="<= 2x JSON")
    results.add("cache.sync.seconds", f"initial sync of {objects:,} objects (agent start -> synced)", "s",
                system.cache_sync_seconds)
    results.details["cache_memory"] = {
        "objects": objects, "cache_bytes": cache_bytes, "json_bytes": json_bytes, "json_objects": json_objects,
        "avg_json_bytes": avg_json, "hub_rss_before": system.cache_rss_before, "hub_rss_after": rss_after,
        "types": types, "note": "RSS measured after the read benchmarks; the delta includes allocator slack "
                                "and buffers kept from serving large LISTs"}
