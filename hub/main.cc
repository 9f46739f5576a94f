// kubehub-hub: parses flags into HubOptions, validates them, sets up logging and runs a
// HubServer (hub/hub_server.h) until a signal stops it. Everything else lives in hub/ libraries
// that tests share.
#include <cstdio>

#include "common/config/flags.h"
#include "common/log/log.h"
#include "common/net/server_main.h"
#include "hub/hub_server.h"

using namespace kubehub;

int main(int argc, char** argv) {
  hub::HubOptions o;
  config::FlagSet flags("kubehub-hub",
                        "The kubehub hub: terminates agents' tunnels and serves users' Kubernetes "
                        "requests at https://HUB/clusters/CLUSTER/...");
  flags.addString("listen", &o.listen, "HOST:PORT of the users' HTTPS endpoint (port 0: any)");
  flags.addString("tunnel-listen", &o.tunnel_listen,
                  "HOST:PORT where agents connect (mTLS WebSocket)");
  flags.addString("admin-listen", &o.admin_listen, "HOST:PORT for /healthz, /readyz, /metrics");
  flags.addString("tls-cert", &o.tls_cert, "PEM certificate (chain) of the users' endpoint");
  flags.addString("tls-key", &o.tls_key, "PEM private key of the users' endpoint");
  flags.addString("tunnel-tls-cert", &o.tunnel_tls_cert,
                  "PEM certificate of the tunnel listener (default: --tls-cert)");
  flags.addString("tunnel-tls-key", &o.tunnel_tls_key,
                  "PEM key of the tunnel listener (default: --tls-key)");
  flags.addString("agent-ca", &o.agent_ca,
                  "PEM CA bundle that signs agents' client certificates (default with "
                  "--metaserver-url: the metaserver's tunnel CA, fetched at start and refreshed)");
  flags.addString("peer-listen", &o.peer_listen,
                  "HOST:PORT where other hubs of the fleet connect (mTLS WebSocket) to reach the "
                  "clusters whose tunnels this hub holds; empty: no peering (requests for clusters "
                  "on other hubs get 503)");
  flags.addString("peer-tls-cert", &o.peer_tls_cert,
                  "PEM hub certificate (O=kubehub:hubs, CN=--hub-id) for peer links, both ways "
                  "(default: the hub makes its own key and enrols a certificate with the "
                  "metaserver, renewed two thirds into its lifetime)");
  flags.addString("peer-tls-key", &o.peer_tls_key, "PEM key of --peer-tls-cert");
  flags.addString("peer-ca", &o.peer_ca,
                  "PEM CA bundle that signs hub certificates (default: --agent-ca, or the "
                  "metaserver's tunnel CA)");
  flags.addDuration("tls-reload-interval", &o.tls_reload_interval,
                    "how often certificate, key and CA files are checked for changes; changed "
                    "ones are used by new connections, open ones keep theirs (0: never)");
  flags.addDuration(
      "drain-timeout", &o.drain_timeout,
      "with --peer-listen: on SIGTERM, how long the hub waits for its agents to move to "
      "other hubs before it exits (0: exit at once; a second signal exits at once)");
  flags.addInt("drain-rate-milli", &o.drain_rate_milli,
               "agents asked to move per 1000 s while draining (default 100,000: 100 per second)");
  flags.addInt("rebalance-rate-milli", &o.rebalance_rate_milli,
               "agents asked to move per 1000 s while this hub holds more than its share of the "
               "fleet's tunnels (default 2,000: 2 per second; 0: never)");
  flags.addDuration("rebalance-settle", &o.rebalance_settle,
                    "a tunnel younger than this is never asked to move to rebalance the fleet");
  flags.addString("token-file", &o.token_file,
                  "static break-glass bearer tokens, CSV: token,user,uid,\"group1,group2\" (not "
                  "limited by grants)");
  flags.addString("metaserver-url", &o.metaserver_url,
                  "the metaserver (tokens, grants, registry), https://HOST:PORT");
  flags.addString("metaserver-token-file", &o.metaserver_token_file,
                  "file holding this hub's metaserver token (hub role)");
  flags.addString("metaserver-ca", &o.metaserver_ca,
                  "PEM CA bundle of the metaserver's certificate (default: system roots)");
  flags.addString("audit-log", &o.audit_log,
                  "audit log: - for stdout, a file path (rotated by size), or empty for none");
  flags.addInt("audit-log-max-bytes", &o.audit_log_max_bytes,
               "rotate the audit log file beyond this size");
  flags.addInt("audit-log-max-files", &o.audit_log_max_files, "rotated audit log files kept");
  flags.addInt("tenant-rate-milli", &o.tenant_rate_milli,
               "requests per 1000 seconds each tenant may make (0: unlimited)");
  flags.addInt("tenant-burst", &o.tenant_burst, "requests a tenant may make in a burst");
  flags.addString("advertise-host", &o.advertise_host,
                  "host name other components reach this hub at (default: the hub id)");
  flags.addString(
      "advertise-tunnel-url", &o.advertise_tunnel_url,
      "the URL agents reach this very hub's tunnel listener at, announced to agents so they "
      "spread over the fleet's hubs, e.g. wss://$(POD_NAME).tunnel.example.com/tunnel (default: "
      "wss://--advertise-host:PORT/tunnel); \"none\": agents outside can reach hubs only "
      "through their own --hub-url (a load balancer), so nothing is announced");
  flags.addString("hub-id", &o.hub_id,
                  "this hub's identity in logs, the protocol and the metaserver's registry; with "
                  "--metaserver-url it must be the name of the token's user (default: hostname)");
  flags.addString("log-level", &o.log_level, "debug, info, warn or error");
  flags.addInt(
      "threads", &o.threads,
      "I/O threads for users' connections (default: one per CPU this process may use: its affinity "
      "and cgroup CPU limit)");
  flags.addInt(
      "tunnel-threads", &o.tunnel_threads,
      "I/O threads for agents' tunnels alone (default 0: tunnels share the users' "
      "threads). Apart, the kernel keeps tunnel traffic from delaying users' cached reads; "
      "on 2 cores it cost ~7% of forwarded throughput");
  flags.addDuration("response-timeout", &o.response_timeout,
                    "how long to wait for an edge's response head");
  flags.addDuration("write-timeout", &o.write_timeout,
                    "a write to a user's connection that makes no progress for this long drops "
                    "the client (streams themselves last as long as both sides keep them)");
  flags.addDuration("idle-timeout", &o.idle_timeout,
                    "an idle keep-alive connection, or a request body that stops arriving, is "
                    "closed after this");
  flags.addDuration("handshake-timeout", &o.handshake_timeout,
                    "time a user's connection has to complete its TLS handshake");
  flags.addInt("max-connections", &o.max_connections,
               "users' connections held at once (0: no limit); more are closed at accept "
               "(default: 10000, or half the process's descriptor limit if that is lower, so "
               "tunnels and the metaserver always have descriptors left)");
  flags.addInt("max-connections-per-client", &o.max_connections_per_client,
               "users' connections held at once from one client address (0: no limit)");
  flags.addInt("max-long-streams-per-user", &o.max_long_streams_per_user,
               "watches, followed logs, exec, attach and port-forwards one user may hold through "
               "one cluster's tunnel (default: --max-streams/8; 0: no limit)");
  flags.addInt("max-long-streams-per-tenant", &o.max_long_streams_per_tenant,
               "the same for all users of one tenant (default: --max-streams/2; 0: no limit)");
  flags.addInt("max-requests-per-user", &o.max_requests_per_user,
               "other requests one user may have in flight through one cluster's tunnel "
               "(default: --max-streams/4; 0: no limit)");
  flags.addInt("max-requests-per-tenant", &o.max_requests_per_tenant,
               "the same for all users of one tenant (default: --max-streams/2; 0: no limit)");
  flags.addDuration("ping-interval", &o.ping_interval, "tunnel heartbeat interval");
  flags.addDuration("tunnel-idle-timeout", &o.tunnel_idle_timeout,
                    "a tunnel with no traffic for this long is dropped");
  flags.addInt("stream-window", &o.stream_window, "per-stream flow-control window in bytes");
  flags.addInt("max-streams", &o.max_streams, "concurrent streams per tunnel");
  flags.addString("cache-resources", &o.cache_resources,
                  "types answered from the hub cache: resource[.group],... (default: read-heavy "
                  "built-ins, never secrets; \"none\" disables the cache)");
  flags.addInt("cache-max-bytes", &o.cache_max_bytes,
               "memory budget of each cluster's cache in bytes: current objects plus the event "
               "windows' history (old versions, deleted objects). Over it, the largest type falls "
               "back to forwarding and its memory is released (0: no budget)");
  flags.addInt("cache-window", &o.cache_window,
               "recent events kept per type for watches resuming from a resourceVersion; a watch "
               "from an older one gets 410 Gone and relists");
  flags.addInt("cache-window-bytes", &o.cache_window_bytes,
               "bytes of history each type's event window may hold (old versions and deleted "
               "objects; versions still current are shared with the cache, counted once); the "
               "oldest events go first (0: a quarter of --cache-max-bytes)");
  flags.addDuration("cache-keep-detached", &o.cache_keep_detached,
                    "how long a cluster's cache outlives its last tunnel to this hub: an agent "
                    "back within it resumes its watches without relisting; after it (moved to "
                    "another hub, deleted, or down for long) the cache and its memory go");
  flags.addDuration("cache-bookmark-interval", &o.cache_bookmark_interval,
                    "bookmark cadence of watches served from the cache");
  flags.addDuration("cache-consistency-timeout", &o.cache_consistency_timeout,
                    "how long a read that must be up to date waits for the cache to catch up "
                    "with the edge before it is forwarded (or, once it went to the edge too, "
                    "left to the edge's answer)");
  flags.addDuration("cache-hedge-after", &o.cache_hedge_after,
                    "how long such a read (not a watch) waits for the cache alone before it is "
                    "also sent to the edge; the first of the two then answers it, so waiting "
                    "for the cache costs a read this and the probe's round trip over forwarding "
                    "it (0: at once; at least --cache-consistency-timeout: never). A read only "
                    "the cache can answer waits this long, then is answered as the cache is");
  flags.addBool("cache-gzip", &o.cache_gzip,
                "answer from the cache gzipped, as the API server does, when the answer is over "
                "128 KiB and the client's Accept-Encoding asks for gzip (kubectl's does): ~17x "
                "fewer bytes for a pod list, for ~2 ms of CPU per MB; false sends them plain");
  if (auto s = flags.parse(argc, argv); !s.ok()) net::exitWithConfigError("kubehub-hub", s);
  if (flags.helpRequested()) {
    std::fputs(flags.usage().c_str(), stdout);
    return 0;
  }
  if (!flags.args().empty()) {
    net::exitWithConfigError("kubehub-hub",
                             absl::InvalidArgumentError("unexpected argument " + flags.args()[0]));
  }
  if (auto s = o.validate(); !s.ok()) net::exitWithConfigError("kubehub-hub", s);
  log::Level level = log::Level::kInfo;
  log::parseLevel(o.log_level, &level);
  log::init("hub", level);

  hub::HubServer server(o);
  auto bound = server.start();
  if (!bound.ok()) net::exitWithConfigError("kubehub-hub", bound.status());
  // SIGTERM with peering: drain first. Agents move to other hubs (new tunnel first), /readyz
  // says so (load balancers stop sending users here), users' requests are served meanwhile;
  // once no tunnel is left (or --drain-timeout passes) the hub leaves the registry and exits.
  server.run([&server] { server.stop(); });
  log::info("hub stopped");
  return 0;
}
