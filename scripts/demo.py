#!/usr/bin/python3
"""make demo: starts an edge API server (the project's stand-in, or a real cluster when
EDGE_KUBECONFIG points at one), a hub and an agent on this machine, writes an issued kubeconfig
and shows kubectl working through the hub. Stops everything it started on exit or Ctrl-C."""
import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "e2e", "lib"))
import kubehub_e2e as e2e  # noqa: E402

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
e2e.BIN_DIR = os.path.join(ROOT, BUILD, "bin")
DEMO_DIR = os.path.join(ROOT, ".demo")


def say(text):
    print(f"\033[1m==> {text}\033[0m", flush=True)


def run(kubeconfig, *args):
    print(f"$ kubectl --kubeconfig .demo/kubeconfig {' '.join(args)}", flush=True)
    r = e2e.kubectl(kubeconfig, *args, check=False)
    sys.stdout.write(r.stdout)
    if r.returncode != 0:
        sys.stdout.write(r.stderr)
    print(flush=True)


def main():
    os.makedirs(DEMO_DIR, exist_ok=True)
    work = e2e.Workdir(prefix="kubehub-demo-")
    procs = []

    def cleanup():
        while procs:
            procs.pop().stop()
        work.close()

    def on_signal(*_):
        cleanup()
        sys.exit(0)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        say("generating a CA, the hub's certificate and the agent's client certificate (edge-1)")
        pki = e2e.Pki(work.join("pki"))
        edge = os.environ.get("EDGE_KUBECONFIG")
        if edge:
            say(f"edge cluster: the real cluster of {edge}")
            agent_kubeconfig = edge
        else:
            say("edge cluster: the kubehub edge API server stand-in (set EDGE_KUBECONFIG=... for a real one)")
            token = "demo-edge-token-" + os.urandom(8).hex()
            standin, url = e2e.start_standin(work, pki, token)
            procs.append(standin)
            print(f"    stand-in listening at {url}")
            agent_kubeconfig = e2e.write_kubeconfig(work.join("agent.kubeconfig"), url, pki.ca_cert, token=token)
        user_token = "demo-user-" + os.urandom(12).hex()
        tokens = e2e.write_token_file(work.join("tokens.csv"), [(user_token, "demo-user", "1", ["demo"])])
        say("starting the hub")
        hub = e2e.Hub(work, pki, tokens)
        procs.append(hub.proc)
        print(f"    users' endpoint https://{hub.users}  tunnel wss://{hub.tunnel}/tunnel  admin http://{hub.admin}")
        say("starting the agent for cluster edge-1 (it dials the hub)")
        agent = e2e.Agent(work, pki, "edge-1", hub, agent_kubeconfig)
        procs.append(agent.proc)
        hub.wait_discovered("edge-1")
        kubeconfig = e2e.write_kubeconfig(os.path.join(DEMO_DIR, "kubeconfig"), hub.cluster_url("edge-1"),
                                          pki.ca_cert, token=user_token, cluster="edge-1")
        say(f"wrote .demo/kubeconfig (server {hub.cluster_url('edge-1')})")
        run(kubeconfig, "version")
        run(kubeconfig, "get", "namespaces")
        run(kubeconfig, "get", "pods", "-A")
        run(kubeconfig, "api-resources", "--api-group=apps")
        pod = e2e.kubectl(kubeconfig, "get", "pods", "-n", "default", "-o",
                          "jsonpath={.items[0].metadata.name}", check=False).stdout.strip()
        if pod and not edge:
            run(kubeconfig, "exec", pod, "-n", "default", "--", "echo", "hello from the edge")
            run(kubeconfig, "logs", pod, "-n", "default", "--tail=3")
        say("a wrong token is refused by the hub")
        bad = e2e.write_kubeconfig(work.join("bad.kubeconfig"), hub.cluster_url("edge-1"), pki.ca_cert, token="wrong")
        r = e2e.kubectl(bad, "get", "ns", check=False)
        print(r.stderr)
        if sys.stdin.isatty() and os.environ.get("DEMO_WAIT", "1") == "1":
            say("the system is running: try `kubectl --kubeconfig .demo/kubeconfig get pods -A -w`; Ctrl-C stops it")
            signal.pause()
    finally:
        cleanup()


if __name__ == "__main__":
    main()
