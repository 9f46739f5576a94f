#!/usr/bin/python3
"""make demo: runs the whole system on this machine and shows kubectl working through the hub.

PostgreSQL + metaserver + hub + agent + an edge API server (the project's stand-in, or a real
cluster when EDGE_KUBECONFIG points at one). The platform team's steps are done with kubehubctl:
a tenant, a user, a grant on one namespace, the cluster's onboarding (bootstrap token, CSR,
certificate from the metaserver's CA) and an issued kubeconfig. Then kubectl works through the
hub, and is refused outside the grant. Stops everything it started on exit or Ctrl-C."""
import os
import re
import signal
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "e2e", "lib"))
import kubehub_e2e as e2e  # noqa: E402

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
e2e.BIN_DIR = os.path.join(ROOT, BUILD, "bin")
DEMO_DIR = os.path.join(ROOT, ".demo")


def say(text):
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def show(cmd, result):
    print(f"$ {cmd}", flush=True)
    sys.stdout.write(result.stdout)
    if result.returncode != 0:
        sys.stdout.write(result.stderr)
    sys.stdout.flush()


def kubectl(kubeconfig, *args):
    r = e2e.kubectl(kubeconfig, *args, check=False)
    show("kubectl --kubeconfig .demo/kubeconfig " + " ".join(args), r)
    return r


def main():
    os.makedirs(DEMO_DIR, exist_ok=True)
    work = e2e.Workdir(prefix="kubehub-demo-")
    procs = []
    platform = None

    def cleanup():
        while procs:
            procs.pop().stop()
        if platform:
            platform.close()
        work.close()

    def on_signal(*_):
        cleanup()
        sys.exit(0)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        pki = e2e.Pki(work.join("pki"))
        hub_port = e2e.free_port()
        say("starting PostgreSQL and the metaserver")
        platform = e2e.Platform(work, pki, hub_url=f"https://127.0.0.1:{hub_port}")
        print(f"    metaserver at {platform.url}")

        say("platform team: a tenant, a user, a cluster and a grant (kubehubctl)")
        for args in (("tenant", "create", "acme"),
                     ("user", "create", "alice", "--tenant", "acme"),
                     ("cluster", "create", "edge-1", "--labels", "env=demo"),
                     ("grant", "create", "alice-demo", "--tenant", "acme", "--user", "alice",
                      "--clusters", "edge-1", "--api-groups", "*", "--resources", "*",
                      "--verbs", "get,list,watch,create,update,patch,delete", "--namespaces", "default")):
            show("kubehubctl " + " ".join(args), platform.ctl(*args))

        edge = os.environ.get("EDGE_KUBECONFIG")
        if edge:
            say(f"edge cluster: the real cluster of {edge}")
            agent_kubeconfig = edge
        else:
            say("edge cluster: the kubehub edge API server stand-in (EDGE_KUBECONFIG=... for a real one)")
            token = "demo-edge-" + os.urandom(8).hex()
            standin, url = e2e.start_standin(work, pki, token)
            procs.append(standin)
            print(f"    stand-in at {url}")
            agent_kubeconfig = e2e.write_kubeconfig(work.join("agent.kubeconfig"), url, pki.ca_cert, token=token)

        say("starting the hub (tokens, grants and the registry come from the metaserver)")
        crt, key = pki.serving("hub-1")
        hub_token = platform.hub_token_file()
        hub = e2e.Process([e2e.binary("kubehub-hub"), "--listen", f"127.0.0.1:{hub_port}",
                           "--tunnel-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                           "--tls-cert", crt, "--tls-key", key, "--agent-ca", platform.ca_file(),
                           "--metaserver-url", platform.url, "--metaserver-token-file", hub_token,
                           "--metaserver-ca", pki.ca_cert, "--hub-id", "hub-1",
                           "--audit-log", os.path.join(DEMO_DIR, "audit.log")],
                          ready=r"hub started", log_path=work.join("hub.log"))
        procs.append(hub)
        tunnel = re.search(r"tunnel listening\" address=(\S+)", hub.log_text()).group(1)
        print(f"    users' endpoint https://127.0.0.1:{hub_port}   tunnel wss://{tunnel}/tunnel")

        say("onboarding edge-1: bootstrap token -> CSR -> certificate from the metaserver's CA")
        agent_crt, agent_key = platform.agent_certificate("edge-1")
        print(f"    {agent_crt}")
        say("starting the agent for edge-1 (it dials the hub)")
        agent = e2e.Process([e2e.binary("kubehub-agent"), "--hub-url", f"wss://{tunnel}/tunnel",
                             "--tls-cert", agent_crt, "--tls-key", agent_key, "--hub-ca", pki.ca_cert,
                             "--kubeconfig", agent_kubeconfig, "--admin-listen", "127.0.0.1:0"],
                            ready=r"tunnel up", log_path=work.join("agent.log"), timeout=40)
        procs.append(agent)
        hub.wait_for_log(r"discovery received\" cluster=edge-1", 30)

        say("the user's kubeconfig, issued by the metaserver")
        kubeconfig = os.path.join(DEMO_DIR, "kubeconfig")
        with open(kubeconfig, "w") as f:
            f.write(platform.ctl("kubeconfig", "--user", "alice", "--cluster", "edge-1", "--ttl", "8h").stdout)
        print("    wrote .demo/kubeconfig (kubectl --kubeconfig .demo/kubeconfig ...)")

        say("kubectl through the hub")
        kubectl(kubeconfig, "version")
        kubectl(kubeconfig, "get", "pods", "-n", "default")
        kubectl(kubeconfig, "get", "pods", "-A")
        kubectl(kubeconfig, "auth", "whoami")
        pod = e2e.kubectl(kubeconfig, "get", "pods", "-n", "default", "-o",
                          "jsonpath={.items[0].metadata.name}", check=False).stdout.strip()
        if pod and not edge:
            kubectl(kubeconfig, "logs", pod, "-n", "default", "--tail=2")
            kubectl(kubeconfig, "exec", pod, "-n", "default", "--", "echo", "hello from the edge")
        say("outside the grant: refused with a reason")
        kubectl(kubeconfig, "get", "pods", "-n", "kube-system")
        kubectl(kubeconfig, "auth", "can-i", "delete", "nodes")
        print(f"\n    every request above is in .demo/audit.log (one JSON line each)")
        say("what the platform team sees: the fleet, as the agents report it")
        try:
            e2e.wait_until(lambda: "status.report.nodes" in platform.ctl("cluster", "get", "edge-1").stdout,
                           timeout=20, interval=0.5, what="edge-1's first status report")
        except TimeoutError as e:
            print(f"    ({e})")
        show("kubehubctl cluster list", platform.ctl("cluster", "list"))
        if sys.stdin.isatty() and os.environ.get("DEMO_WAIT", "1") == "1":
            say("running: try `kubectl --kubeconfig .demo/kubeconfig get pods -w`; Ctrl-C stops everything")
            signal.pause()
    finally:
        cleanup()


if __name__ == "__main__":
    main()
