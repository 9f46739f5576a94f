// kubehub-agent: parses flags into AgentOptions, validates them, sets up logging and runs an
// AgentServer (agent/agent_server.h) until a signal stops it.
#include <cstdio>

#include "agent/agent_server.h"
#include "common/config/flags.h"
#include "common/log/log.h"
#include "common/net/server_main.h"

using namespace kubehub;

namespace {

constexpr const char* kVersion = "0.1.0";
#ifndef KUBEHUB_BUILD
#define KUBEHUB_BUILD "dev"
#endif
constexpr const char* kBuild = KUBEHUB_BUILD;

}  // namespace

int main(int argc, char** argv) {
  agent::AgentOptions o;
  config::FlagSet flags("kubehub-agent",
                        "The kubehub agent: runs in an edge cluster, dials hubs and executes the "
                        "requests they forward against the local API server.");
  flags.addStringList("hub-url", &o.hub_urls,
                      "hubs' tunnel endpoints, wss://HOST:PORT/tunnel (a hub or a load balancer "
                      "in front of several); the agent also learns the fleet's hubs from them");
  flags.addInt("hub-connections", &o.hub_connections,
               "tunnels to distinct hubs kept at once (1 to 16); with fewer hubs known, the "
               "extra connections wait");
  flags.addString("cluster", &o.cluster,
                  "this cluster's name (default: the CN of --tls-cert; required when enrolling)");
  flags.addString("tls-cert", &o.tls_cert,
                  "PEM client certificate identifying this cluster to the hub (issued elsewhere; "
                  "or enrol with --credentials-dir/--credentials-secret)");
  flags.addString("tls-key", &o.tls_key, "PEM private key of --tls-cert");
  flags.addString("hub-ca", &o.hub_ca,
                  "PEM CA bundle that signed the hub's certificate (default: system roots)");
  flags.addDuration("tls-reload-interval", &o.tls_reload_interval,
                    "how often to look for changed --tls-cert/--tls-key/--hub-ca files (a rotated "
                    "Secret); new tunnels use the new ones, open tunnels stay up (0: never)");
  flags.addString("metaserver-url", &o.metaserver_url,
                  "enrolment: the metaserver, https://HOST:PORT, where the agent gets its "
                  "certificate with a bootstrap token and renews it before it expires");
  flags.addString("metaserver-ca", &o.metaserver_ca,
                  "enrolment: PEM CA bundle that signed the metaserver's certificate (default: "
                  "system roots)");
  flags.addString("bootstrap-token-file", &o.bootstrap_token_file,
                  "enrolment: file holding the one-time bootstrap token (kubehubctl cluster "
                  "install CLUSTER makes one); needed only while nothing usable is stored");
  flags.addString("bootstrap-token", &o.bootstrap_token,
                  "enrolment: the bootstrap token itself (prefer the file or "
                  "KUBEHUB_BOOTSTRAP_TOKEN: flags show in the process list)");
  flags.addString("credentials-dir", &o.credentials_dir,
                  "enrolment: keep the enrolled certificate, key (mode 0600) and CA in this "
                  "directory as tls.crt, tls.key, ca.crt (replaced atomically on renewal)");
  flags.addString("credentials-secret", &o.credentials_secret,
                  "enrolment: keep them in this Secret (type kubernetes.io/tls) of --namespace, "
                  "read and written with the agent's own API server credentials (needs get and "
                  "update on it)");
  flags.addString("namespace", &o.ns,
                  "namespace of --credentials-secret (default: the ServiceAccount's, else "
                  "default)");
  flags.addString("mode", &o.mode,
                  "kubernetes (front the edge API server) or native (a bare host without one: "
                  "serves only --commands-file and reports the host's OS, CPUs, memory, disk and "
                  "load; refuses --kubeconfig, --context, --credentials-secret, --namespace)");
  flags.addString("host-disk-path", &o.host_disk_path,
                  "--mode native: the file system whose size and free space the status report "
                  "gives");
  flags.addString("kubeconfig", &o.kubeconfig,
                  "kubeconfig of the edge API server (default: in-cluster ServiceAccount)");
  flags.addString("context", &o.context, "kubeconfig context (default: current-context)");
  flags.addString("commands-file", &o.commands_file,
                  "native commands users may run through the hub (YAML or JSON, see the agent's "
                  "README); checked at start; without it the agent offers none");
  flags.addString("admin-listen", &o.admin_listen, "HOST:PORT for /healthz, /readyz, /metrics");
  flags.addString("log-level", &o.log_level, "debug, info, warn or error");
  flags.addDuration("backoff-base", &o.backoff_base, "first reconnect delay ceiling (full jitter)");
  flags.addDuration("backoff-max", &o.backoff_max, "largest reconnect delay ceiling");
  flags.addDuration(
      "response-timeout", &o.response_timeout,
      "how long to wait for the API server's response head, and for the next bytes of "
      "a response body that stopped (watches, logs, exec, attach, port-forward and "
      "proxy excepted: they may be quiet for any time)");
  flags.addDuration("upstream-idle-timeout", &o.upstream_idle_timeout,
                    "close a keep-alive connection to the API server unused for this long "
                    "(at least 1s; a pooled connection the API server closed first is noticed "
                    "before use and replaced)");
  flags.addInt("upstream-max-idle", &o.upstream_max_idle,
               "keep-alive connections to the API server kept for the next requests (0 to 4096; "
               "every request in flight holds one, so below the usual concurrency some requests "
               "pay a new TLS handshake)");
  flags.addDuration("status-interval", &o.status_interval,
                    "how often each tunnel sends the cluster status report (Kubernetes version, "
                    "nodes, agent version) even when nothing changed; changes go at once, but "
                    "never more than one report per 10 s (at least 10s; 0: send none)");
  flags.addDuration("status-check-interval", &o.status_check_interval,
                    "how often the agent reads /version and lists nodes to notice changes for the "
                    "status report (at least 1s)");
  if (auto s = flags.parse(argc, argv); !s.ok()) net::exitWithConfigError("kubehub-agent", s);
  if (flags.helpRequested()) {
    std::fputs(flags.usage().c_str(), stdout);
    return 0;
  }
  if (!flags.args().empty()) {
    net::exitWithConfigError("kubehub-agent",
                             absl::InvalidArgumentError("unexpected argument " + flags.args()[0]));
  }
  auto resolved = o.resolved();  // validate() and what needs files
  if (!resolved.ok()) net::exitWithConfigError("kubehub-agent", resolved.status());
  log::Level level = log::Level::kInfo;
  log::parseLevel(o.log_level, &level);
  log::init("agent", level);

  agent::AgentServer server(std::move(*resolved), kVersion, kBuild);
  auto bound = server.start();
  if (!bound.ok()) net::exitWithConfigError("kubehub-agent", bound.status());
  int exit_code = server.run([&server] { server.stop(); });
  log::info("agent stopped");
  return exit_code;
}
