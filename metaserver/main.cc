// kubehub-metaserver: parses options into MetaserverOptions, checks them, sets up logging and
// runs a MetaserverServer (metaserver/metaserver_server.h) until SIGINT/SIGTERM.
#include <cstdio>

#include "common/config/flags.h"
#include "common/log/log.h"
#include "common/net/server_main.h"
#include "metaserver/metaserver_server.h"

using namespace kubehub;
using namespace kubehub::metaserver;

namespace {

constexpr const char* kProgram = "kubehub-metaserver";
constexpr const char* kVersion = "0.1.0";

}  // namespace

int main(int argc, char** argv) {
  MetaserverOptions o;
  config::FlagSet flags(
      kProgram,
      "The kubehub metaserver: tenants, users, clusters, grants, tokens, kubeconfigs, the "
      "tunnel CA and the hub registry, on PostgreSQL. REST API under /api/v1/, described "
      "at /openapi.json.");
  flags.addString("listen", &o.listen, "HOST:PORT of the REST API (port 0: any)");
  flags.addString("admin-listen", &o.admin_listen, "HOST:PORT for /healthz, /readyz, /metrics");
  flags.addString("tls-cert", &o.tls_cert, "PEM certificate (chain) of the REST API");
  flags.addString("tls-key", &o.tls_key, "PEM private key of the REST API");
  flags.addDuration("tls-reload-interval", &o.tls_reload_interval,
                    "how often to look for a changed --tls-cert/--tls-key (e.g. a rotated "
                    "Secret); new connections take the new certificate, open ones keep theirs "
                    "(0: never)");
  flags.addBool("insecure-http", &o.insecure_http,
                "serve the REST API over plain HTTP (local use only)");
  flags.addString("database-url", &o.database_url,
                  "PostgreSQL: libpq conninfo or postgresql:// URI");
  flags.addString("admin-token-file", &o.admin_token_file,
                  "file holding the bootstrap admin token");
  flags.addString("admin-token", &o.admin_token,
                  "the bootstrap admin token (prefer the file or the env variable)");
  flags.addString("hub-url", &o.hub_url,
                  "https://HOST[:PORT] of the hubs' users' endpoint, for kubeconfigs");
  flags.addString("hub-ca-file", &o.hub_ca_file,
                  "PEM CA bundle of the hubs' serving certificates, for kubeconfigs");
  flags.addString("public-url", &o.public_url,
                  "this metaserver's URL as agents see it (default: the bound address)");
  flags.addString("ca-cert", &o.ca_cert,
                  "PEM tunnel CA certificate (default: generated and kept in the database)");
  flags.addString("ca-key", &o.ca_key, "PEM tunnel CA private key, with --ca-cert");
  flags.addString("encryption-key-file", &o.encryption_key_file,
                  "keys sealing the signing keys and the CA key in the database (AES-256-GCM), "
                  "one ID:BASE64(32 bytes) per line; the first seals, all open (rotate: add, "
                  "restart, move first, restart, remove)");
  flags.addString("issuer", &o.issuer, "the tokens' iss claim");
  flags.addDuration("token-ttl", &o.token_ttl, "default lifetime of issued tokens");
  flags.addDuration("max-token-ttl", &o.max_token_ttl,
                    "longest lifetime a token may be issued with");
  flags.addDuration("kubeconfig-ttl", &o.kubeconfig_ttl,
                    "default lifetime of a kubeconfig's token");
  flags.addDuration("bootstrap-ttl", &o.bootstrap_ttl,
                    "default lifetime of a cluster bootstrap token (at most 168h)");
  flags.addDuration("agent-cert-ttl", &o.agent_cert_ttl, "lifetime of agents' client certificates");
  flags.addDuration("hub-cert-ttl", &o.hub_cert_ttl, "lifetime of hubs' serving certificates");
  flags.addDuration("registry-ttl", &o.registry_ttl,
                    "a hub without a heartbeat for this long is gone");
  flags.addDuration("db-wait", &o.db_wait, "how long to wait for PostgreSQL at start");
  flags.addInt("threads", &o.threads, "request threads (requests block on PostgreSQL)");
  flags.addInt("db-pool-size", &o.db_pool_size, "PostgreSQL connections (default: --threads)");
  flags.addInt("max-body-bytes", &o.max_body_bytes, "largest request body accepted (413 beyond)");
  flags.addString("log-level", &o.log_level, "debug, info, warn or error");
  if (auto s = flags.parse(argc, argv); !s.ok()) net::exitWithConfigError(kProgram, s);
  if (flags.helpRequested()) {
    std::fputs(flags.usage().c_str(), stdout);
    return 0;
  }
  if (!flags.args().empty()) {
    net::exitWithConfigError(kProgram,
                             absl::InvalidArgumentError("unexpected argument " + flags.args()[0]));
  }
  if (auto s = o.validate(); !s.ok()) net::exitWithConfigError(kProgram, s);
  log::Level level = log::Level::kInfo;
  log::parseLevel(o.log_level, &level);  // validate() saw to it
  log::init("metaserver", level);

  MetaserverServer server(o, kVersion);
  if (auto bound = server.start(); !bound.ok()) net::exitWithConfigError(kProgram, bound.status());
  server.run([&server] { server.stop(); });
  log::info("metaserver stopped");
  return 0;
}
