"""The run's configuration: the BENCH_* knobs (see bench/README.md), the steps, shared constants.

The knobs are read once, at import, from the environment; `main()` sets the build directory
(BIN) and the per-run work directory and CA (WORK, PKI) before any step runs.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "e2e", "lib"))
import kubehub_e2e as e2e  # noqa: E402

STEPS = ("codec", "reads", "onecore", "crud", "stream", "portforward", "watch", "memory", "agents", "storm",
         "fleet", "hedge", "flood")
# Steps that use the stand-in with 10,000 pods and its two hubs (System); codec runs in one
# process of its own, fleet starts its own platform and hedge its own stand-in and hubs.
SYSTEM_STEPS = ("reads", "onecore", "crud", "stream", "portforward", "watch", "memory", "agents", "storm")


def parse_only(text, steps=STEPS):
    """BENCH_ONLY's comma-separated step names (blank entries ignored). Raises ValueError naming
    the first unknown step."""
    only = [x.strip() for x in text.split(",") if x.strip()]
    for step in only:
        if step not in steps:
            raise ValueError(f"BENCH_ONLY names an unknown step {step!r}; steps: {', '.join(steps)}")
    return only


def parse_counts(text):
    """A comma-separated list of integers such as BENCH_AGENTS (blank entries ignored)."""
    return [int(x) for x in text.split(",") if x.strip()]


def bin_dir(build, root=ROOT):
    """The binaries of a build directory given relative to the repository or absolute."""
    return os.path.join(root, build, "bin") if not os.path.isabs(build) else os.path.join(build, "bin")


QUICK = os.environ.get("BENCH_QUICK") == "1"
DURATION = float(os.environ.get("BENCH_DURATION", "3" if QUICK else "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
AGENT_COUNTS = parse_counts(os.environ.get("BENCH_AGENTS", "200" if QUICK else "1000,10000"))
STORM_AGENTS = int(os.environ.get("BENCH_STORM_AGENTS", "300" if QUICK else "10000"))
LOG_BYTES = int(os.environ.get("BENCH_LOG_BYTES", "100000000" if QUICK else "500000000"))
SEED_PODS = 10000
PERF = os.environ.get("BENCH_PERF") == "1"
# How perf samples (BENCH_PERF_ARGS="-F 2000 --call-graph dwarf,16384" for inclusive costs).
PERF_ARGS = os.environ.get("BENCH_PERF_ARGS", "-F 499 -g").split()
OUT_DIR = os.path.join(ROOT, os.environ.get("BENCH_OUT", os.path.join("bench", "results")))
HUB_ARGS = os.environ.get("BENCH_HUB_ARGS", "").split()  # e.g. "--threads 1 --stream-window 4194304"
PF_BYTES = int(os.environ.get("BENCH_PF_BYTES", "50000000" if QUICK else "200000000"))
KUBECTL = os.environ.get("BENCH_KUBECTL", e2e.KUBECTL)
FLEET_CLUSTERS = int(os.environ.get("BENCH_FLEET_CLUSTERS", "8" if QUICK else "20"))
ONLY_TEXT = os.environ.get("BENCH_ONLY", ",".join(STEPS))

EDGE_TOKEN = "bench-edge-token-" + os.urandom(8).hex()
USER_TOKEN = "bench-user-token-" + os.urandom(8).hex()
BENCH_NS = "kubehub-bench"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
POD = "/api/v1/namespaces/default/pods/bench-05000"
PODS = "/api/v1/namespaces/default/pods"

# Set by main() for the run.
ONLY = []
BIN = None
WORK = None
PKI = None
