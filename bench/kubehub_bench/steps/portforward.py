"""Step 3b, portforward: kubectl port-forward through the hub against direct."""
import json
import os
import re
import subprocess

from .. import config as cfg
from ..config import KUBECTL, PF_BYTES, QUICK, USER_TOKEN, e2e
from ..console import note, say
from ..meters import CpuMeter
from ..clients import bench_client


class KubectlPortForward:
    """`kubectl port-forward pod/POD :PORT` running in the background; `port` is its local port."""

    def __init__(self, kubeconfig, pod, remote, name):
        self.log_path = cfg.WORK.join(f"kubectl-port-forward-{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([KUBECTL, "--kubeconfig", kubeconfig, "port-forward", "-n", "default",
                                      f"pod/{pod}", f":{remote}", "--address", "127.0.0.1"],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "HOME": cfg.WORK.path})
        rx = re.compile(rf"Forwarding from 127\.0\.0\.1:(\d+) -> {remote}")

        def listening():
            if self.proc.poll() is not None:
                raise RuntimeError(f"kubectl port-forward ({name}) exited: {open(self.log_path).read()[-2000:]}")
            return rx.search(open(self.log_path).read())
        self.port = int(e2e.wait_until(listening, timeout=30, what=f"kubectl port-forward ({name})").group(1))

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def bench_port_forward(system, results):
    """3b. kubectl port-forward to the pod's echo server, one and four connections at once:
    kubectl straight to the stand-in vs kubectl through the forwarding hub."""
    version = json.loads(subprocess.run([KUBECTL, "version", "--client", "-o", "json"], capture_output=True,
                                        text=True, timeout=30).stdout)["clientVersion"]["gitVersion"]
    say(f"3b. port-forward throughput (kubectl {version}): {PF_BYTES / 1e6:.0f} MB echoed over 1 and 4 "
        f"connections, direct vs through the hub")
    hub_kubeconfig = e2e.write_kubeconfig(cfg.WORK.join("hub-forward.kubeconfig"), system.hub_fwd.cluster_url("edge-forward"),
                                          cfg.PKI.ca_cert, token=USER_TOKEN)
    paths = {"direct": system.edge_kubeconfig, "hub": hub_kubeconfig}
    forwards = {}
    details = {"kubectl": version, "bytes_per_run": PF_BYTES}
    try:
        for name, kubeconfig in paths.items():
            forwards[name] = KubectlPortForward(kubeconfig, "bench-00001", 8080, name)
        for conns in (1, 4):
            runs = {name: [] for name in paths}
            for _ in range(2 if QUICK else 3):
                for name, pf in forwards.items():  # the paths take turns: drift hits both alike
                    pids = {**system.pids(), "kubectl": pf.proc.pid}
                    with CpuMeter(pids) as meter:
                        r = bench_client("echo", "--address", f"127.0.0.1:{pf.port}", "--connections", str(conns),
                                         "--bytes", str(PF_BYTES // conns), timeout=600)
                    if not r["intact"] or r["errors"]:
                        raise RuntimeError(f"port-forward {name}, {conns} connection(s): {r}")
                    r["cpu"] = meter.result
                    runs[name].append(r)
            best = {name: max(rs, key=lambda r: r["mb_per_s"]) for name, rs in runs.items()}
            for name, b in best.items():
                busiest = sorted(b["cpu"]["cpu_percent"].items(), key=lambda kv: -kv[1])[:4]
                note(f"{conns} conn {name:7s} {b['mb_per_s']:8.0f} MB/s each way (best of {len(runs[name])})  cpu% " +
                     ", ".join(f"{n} {v:.0f}" for n, v in busiest))
            results.add(f"portforward.c{conns}.hub",
                        f"port-forward through the tunnel, {conns} connection{'s' if conns > 1 else ''}", "MB/s",
                        best["hub"]["mb_per_s"], best["direct"]["mb_per_s"], "direct", target=500,
                        target_text=">= 500 MB/s", lower_is_better=False)
            details[f"connections_{conns}"] = {"best": best, "runs": runs}
    finally:
        for pf in forwards.values():
            pf.close()
    results.details["portforward"] = details
