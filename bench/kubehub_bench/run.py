"""The runner: checks the tools, runs the chosen steps in order, writes the report."""
import resource
import sys
import time

from . import config as cfg
from .config import AGENT_COUNTS, QUICK, STORM_AGENTS, SYSTEM_STEPS, bin_dir, e2e, parse_only
from .meters import rss_bytes
from .report import Results, git_info, machine_info
from .system import System
from .steps.agents import bench_idle_agents
from .steps.codec import bench_codec
from .steps.crud import bench_crud
from .steps.fleet import bench_fleet
from .steps.flood import bench_flood
from .steps.hedge import bench_hedge
from .steps.memory import bench_cache_memory
from .steps.onecore import bench_get_one_core
from .steps.portforward import bench_port_forward
from .steps.reads import bench_reads
from .steps.storm import bench_storm
from .steps.stream import bench_stream
from .steps.watch import bench_watch
from .report import finish


def raise_fd_limit(want=200000):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def main(argv):
    build = argv[0] if argv else "build-release"
    try:
        cfg.ONLY = parse_only(cfg.ONLY_TEXT)
    except ValueError as e:
        sys.exit(f"bench: {e}")
    cfg.BIN = bin_dir(build)
    e2e.BIN_DIR = cfg.BIN
    limits = raise_fd_limit()
    for tool in ("kubehub-hub", "kubehub-agent", "kubehub-standin", "kubehub-agent-swarm", "kubehub-bench-client",
                 *(("kubehub-metaserver", "kubehubctl") if "fleet" in cfg.ONLY else ()),
                 *(("kubehub-codec-bench",) if "codec" in cfg.ONLY else ())):
        e2e.binary(tool)
    cfg.WORK = e2e.Workdir(prefix="kubehub-bench-")
    cfg.PKI = e2e.Pki(cfg.WORK.join("pki"), name="kubehub-bench-ca")
    started = time.monotonic()
    machine = machine_info()
    git = git_info()
    print(f"kubehub bench: {git['describe']} on {machine['nproc']} x {machine['cpu_model']}, kernel {machine['kernel']}"
          f"{' (QUICK)' if QUICK else ''}; work dir {cfg.WORK.path}", flush=True)
    results = Results()
    system = None
    latency = {}
    failures = []
    try:
        if "codec" in cfg.ONLY:
            try:
                bench_codec(results)
            except Exception as e:  # noqa: BLE001
                failures.append(repr(e))
                print(f"!!! step failed: {e!r}", flush=True)
        if any(step in cfg.ONLY for step in SYSTEM_STEPS):
            system = System()
            run_system_steps(system, results, latency, failures)
        for name, step in (("fleet", bench_fleet), ("hedge", bench_hedge), ("flood", bench_flood)):
            if name not in cfg.ONLY:
                continue
            try:
                step(results)
            except Exception as e:  # noqa: BLE001
                failures.append(repr(e))
                print(f"!!! step failed: {e!r}", flush=True)
    finally:
        if system:
            system.close()
    finish(results, latency, failures, started, machine, git, limits)
    return 1 if failures else 0


def run_system_steps(system, results, latency, failures):
    """Steps 1-7: the stand-in with 10,000 pods, its two hubs, then simulated agents."""
    bench_cache_memory_rss_after_sync = rss_bytes(system.hub_cache.proc.proc.pid)
    for name, step in (("reads", lambda: latency.update(bench_reads(system, results))),
                       ("onecore", lambda: bench_get_one_core(system, results)),
                       ("crud", lambda: bench_crud(system, results)),
                       ("stream", lambda: bench_stream(system, results)),
                       ("portforward", lambda: bench_port_forward(system, results)),
                       ("watch", lambda: bench_watch(system, results)),
                       ("memory", lambda: bench_cache_memory(system, results))):
        if name not in cfg.ONLY:
            continue
        try:
            step()
        except Exception as e:  # noqa: BLE001 - report and go on with the other figures
            failures.append(repr(e))
            print(f"!!! step failed: {e!r}", flush=True)
    results.details.setdefault("cache_memory", {})["hub_rss_right_after_sync"] = bench_cache_memory_rss_after_sync
    before = system.cache_rss_before
    cm = results.details.get("cache_memory", {})
    if cm.get("objects"):
        per = (bench_cache_memory_rss_after_sync - before) / cm["objects"]
        results.add("cache.memory.rss_at_sync", "hub RSS per cached object (right after sync)", "B", per,
                    cm["avg_json_bytes"], "object JSON", target=2 * cm["avg_json_bytes"],
                    target_text="<= 2x JSON")
    system.stop_hubs()  # the stand-in stays: the storm's real agent uses it
    for step in ((lambda: bench_idle_agents(system, results)) if AGENT_COUNTS and "agents" in cfg.ONLY else None,
                 (lambda: bench_storm(system, results)) if STORM_AGENTS and "storm" in cfg.ONLY else None):
        if step is None:
            continue
        try:
            step()
        except Exception as e:  # noqa: BLE001
            failures.append(repr(e))
            print(f"!!! step failed: {e!r}", flush=True)
