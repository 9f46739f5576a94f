#!/usr/bin/env python3
"""Checks the folder layering of the C++ sources: what may include what.

Rules (a violation prints the include lines that make it, and the exit status is 1):
1. No cycle between folders: when a file in folder A includes a header of folder B, no chain
   of includes leads from B back to A. A cycle means neither folder can be read, tested or
   changed without the other.
2. The top-level parts stand apart: common/ and proto/ include nothing of hub/, agent/ or
   metaserver/; those three include nothing of each other, except the metaserver's model and
   client libraries, which the hub and the agent may use.
3. Leaves include nothing of their own part: hub/metrics is where every folder of the hub
   reports, so it may include none of them (modules register their scrape-time figures into it).

Usage: check_layers.py [REPO_ROOT]
"""

import collections
import os
import re
import sys

PARTS = ("common", "proto", "hub", "agent", "metaserver")
# Folders of other parts a part may include (rule 2).
SHARED = {
    "hub": ("common", "proto", "metaserver/model", "metaserver/client"),
    "agent": ("common", "proto", "metaserver/model", "metaserver/client"),
    "metaserver": ("common", "proto"),
    "common": ("common", "proto"),
    "proto": ("common", "proto"),
}
LEAVES = {"hub/metrics": "hub"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def include_edges(root):
    """{(from_folder, to_folder): [(file, header), ...]} for the project's own headers."""
    edges = collections.defaultdict(list)
    for part in PARTS:
        for folder, _, files in os.walk(os.path.join(root, part)):
            for name in sorted(files):
                if not name.endswith((".h", ".cc")):
                    continue
                path = os.path.join(folder, name)
                src = os.path.relpath(folder, root)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                for header in INCLUDE.findall(text):
                    dst = os.path.dirname(header)
                    if not dst or dst == src or not os.path.exists(os.path.join(root, header)):
                        continue
                    edges[(src, dst)].append((os.path.relpath(path, root), header))
    return edges


def cycles(edges):
    """Strongly connected components with more than one folder (Tarjan, iterative)."""
    graph = collections.defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
        graph.setdefault(b, set())
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def within(folder, prefix):
    return folder == prefix or folder.startswith(prefix + "/")


def violations(edges):
    out = []
    for component in cycles(edges):
        lines = [f"folders include each other in a cycle: {', '.join(component)}"]
        for a in component:
            for b in component:
                for path, header in edges.get((a, b), [])[:3]:
                    lines.append(f"  {path} includes {header}")
        out.append("\n".join(lines))
    for (src, dst), uses in sorted(edges.items()):
        src_part, dst_part = src.split("/")[0], dst.split("/")[0]
        if src_part != dst_part and not any(within(dst, s) for s in SHARED[src_part]):
            for path, header in uses:
                out.append(f"{path} includes {header}: {src_part}/ may include only "
                           f"{', '.join(s + '/' for s in SHARED[src_part])}")
        for leaf, part in LEAVES.items():
            if within(src, leaf) and within(dst, part) and not within(dst, leaf):
                for path, header in uses:
                    out.append(f"{path} includes {header}: {leaf}/ is a leaf of {part}/ and "
                               f"includes none of its other folders")
    return out


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    problems = violations(include_edges(root))
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} problem(s)")
        return 1
    print("check_layers: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
