"""Meters: CPU seconds, context switches and RSS of processes (/proc), the machine's busy time,
latency samples and percentiles."""
import os
import resource
import time



CLK_TCK = os.sysconf("SC_CLK_TCK")


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def context_switches(pid):
    try:
        total = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                    total += int(line.split()[1])
        # Threads other than the main one count separately.
        for tid in os.listdir(f"/proc/{pid}/task"):
            if tid == str(pid):
                continue
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                        total += int(line.split()[1])
        return total
    except (FileNotFoundError, ProcessLookupError):
        return 0


def machine_busy_seconds():
    """CPU seconds all processes on the machine spent busy (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


class CpuMeter:
    """CPU seconds each named process (and our children, e.g. wrk) used during a with-block."""

    history = []  # (wall seconds, CPU% of other processes) of every measurement

    def __init__(self, procs):
        self.procs = procs  # name -> pid

    def __enter__(self):
        self.t0 = time.monotonic()
        self.c0 = {n: cpu_seconds(p) for n, p in self.procs.items()}
        self.x0 = {n: context_switches(p) for n, p in self.procs.items()}
        self.m0 = machine_busy_seconds()
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.k0 = ru.ru_utime + ru.ru_stime
        return self

    def __exit__(self, *exc):
        elapsed = time.monotonic() - self.t0
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.result = {"wall_seconds": round(elapsed, 3),
                       "cpu_seconds": {n: round(cpu_seconds(p) - self.c0[n], 3) for n, p in self.procs.items()}}
        self.result["cpu_seconds"]["load-generator"] = round(ru.ru_utime + ru.ru_stime - self.k0, 3)
        self.result["cpu_percent"] = {n: round(100 * v / elapsed, 1) for n, v in self.result["cpu_seconds"].items()}
        self.result["context_switches"] = {n: context_switches(p) - self.x0[n] for n, p in self.procs.items()}
        # Whatever else ran on the machine meanwhile (other users' builds distort a run).
        busy = machine_busy_seconds() - self.m0
        ours = sum(self.result["cpu_seconds"].values())
        self.result["machine_busy_percent"] = round(100 * busy / elapsed, 1)
        self.result["other_processes_cpu_percent"] = round(max(0.0, 100 * (busy - ours) / elapsed), 1)
        CpuMeter.history.append((elapsed, self.result["other_processes_cpu_percent"]))
        return False


def percentile(values, p):
    """The p-th percentile (nearest rank, rounded) of values; None when there are none."""
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100 * (len(v) - 1) + 0.5))] if v else None


def read_latency_samples(path):
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "200":
                out.append(float(parts[1]))
    return out
