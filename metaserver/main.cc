// kubehub-metaserver: parses options, prepares the database (migrations, signing key, CA) and
// wires the REST API and the admin endpoint together. Everything else lives in metaserver/
// libraries that tests share.
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/config/flags.h"
#include "common/log/log.h"
#include "common/net/http_server.h"
#include "common/net/server_main.h"
#include "common/net/tls.h"
#include "common/net/tls_source.h"
#include "metaserver/api/api_server.h"
#include "metaserver/api/metrics.h"
#include "metaserver/api/token_service.h"
#include "metaserver/ca/certificate_authority.h"
#include "metaserver/store/migrations.h"
#include "metaserver/store/pg.h"
#include "metaserver/store/store.h"

namespace asio = boost::asio;
using namespace kubehub;
using namespace kubehub::metaserver;

namespace {

using namespace std::chrono_literals;

constexpr const char* kProgram = "kubehub-metaserver";
constexpr const char* kVersion = "0.1.0";

struct Options {
  std::string listen = "0.0.0.0:8443";
  std::string admin_listen = "0.0.0.0:9090";
  std::string tls_cert, tls_key;
  bool insecure_http = false;
  std::string database_url;
  std::string admin_token_file;
  std::string admin_token;
  std::string hub_url;
  std::string hub_ca_file;
  std::string public_url;
  std::string ca_cert, ca_key;
  std::string encryption_key_file;
  std::string issuer = "kubehub-metaserver";
  std::chrono::milliseconds token_ttl{24h};
  std::chrono::milliseconds max_token_ttl{720h};
  std::chrono::milliseconds kubeconfig_ttl{24h};
  std::chrono::milliseconds bootstrap_ttl{1h};
  std::chrono::milliseconds agent_cert_ttl{8760h};
  std::chrono::milliseconds hub_cert_ttl{2160h};
  std::chrono::milliseconds registry_ttl{30s};
  std::chrono::milliseconds db_wait{30s};
  std::chrono::milliseconds tls_reload_interval{10s};
  int64_t threads = 8;
  int64_t db_pool_size = 0;
  int64_t max_body_bytes = 1 << 20;
  std::string log_level = "info";

  absl::Status validate() {
    if (database_url.empty()) {
      return absl::InvalidArgumentError(
          "--database-url is required (libpq conninfo or postgresql:// URI)");
    }
    if (auto s = validateConninfo(database_url); !s.ok()) return s;
    if (insecure_http && (!tls_cert.empty() || !tls_key.empty())) {
      return absl::InvalidArgumentError(
          "--insecure-http and --tls-cert/--tls-key exclude each other");
    }
    if (!insecure_http && (tls_cert.empty() || tls_key.empty())) {
      return absl::InvalidArgumentError(
          "--tls-cert and --tls-key are required (or --insecure-http for plain HTTP on a trusted "
          "host)");
    }
    if (!admin_token.empty() && !admin_token_file.empty()) {
      return absl::InvalidArgumentError("give --admin-token or --admin-token-file, not both");
    }
    if (ca_cert.empty() != ca_key.empty())
      return absl::InvalidArgumentError("--ca-cert and --ca-key go together");
    if (!hub_url.empty()) {
      auto u = net::parseUrl(hub_url);
      if (!u.ok())
        return absl::InvalidArgumentError("--hub-url: " + std::string(u.status().message()));
      if (u->scheme != "https")
        return absl::InvalidArgumentError("--hub-url must be an https:// URL");
      while (!hub_url.empty() && hub_url.back() == '/') hub_url.pop_back();
    }
    if (threads < 1 || threads > 256)
      return absl::InvalidArgumentError("--threads must be between 1 and 256");
    if (db_pool_size == 0) db_pool_size = threads;
    if (db_pool_size < 1 || db_pool_size > 1000) {
      return absl::InvalidArgumentError("--db-pool-size must be between 1 and 1000");
    }
    if (tls_reload_interval < 0ms)
      return absl::InvalidArgumentError("--tls-reload-interval must not be negative");
    if (max_body_bytes < 1024 || max_body_bytes > (64 << 20)) {
      return absl::InvalidArgumentError("--max-body-bytes must be between 1024 and 67108864");
    }
    for (auto [name, d] : {std::pair{"--token-ttl", token_ttl},
                           {"--max-token-ttl", max_token_ttl},
                           {"--kubeconfig-ttl", kubeconfig_ttl},
                           {"--bootstrap-ttl", bootstrap_ttl},
                           {"--agent-cert-ttl", agent_cert_ttl},
                           {"--hub-cert-ttl", hub_cert_ttl},
                           {"--registry-ttl", registry_ttl}}) {
      if (d < std::chrono::seconds(1))
        return absl::InvalidArgumentError(std::string(name) + " must be at least 1s");
    }
    if (token_ttl > max_token_ttl || kubeconfig_ttl > max_token_ttl) {
      return absl::InvalidArgumentError(
          "--token-ttl and --kubeconfig-ttl must not exceed --max-token-ttl");
    }
    return absl::OkStatus();
  }
};

absl::StatusOr<std::string> readFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::InvalidArgumentError(std::string(what) + " \"" + path + "\" cannot be read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int64_t seconds(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d).count();
}

/// Connects for start-up, waiting up to `wait` for PostgreSQL to come up.
std::unique_ptr<PgConnection> connectAtStart(const Options& o) {
  auto deadline = std::chrono::steady_clock::now() + o.db_wait;
  bool logged = false;
  for (;;) {
    auto c = PgConnection::connect(o.database_url);
    if (c.ok()) return std::move(*c);
    if (c.status().code() != absl::StatusCode::kUnavailable ||
        std::chrono::steady_clock::now() >= deadline) {
      net::exitWithConfigError(kProgram, c.status());
    }
    if (!logged) {
      log::warn("waiting for the database", {{"error", c.status().message()}});
      logged = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

/// Reloads signing keys, announces expired hub registrations on the routes feed (every 5 s) and
/// prunes expired rows in the background.
class Janitor {
 public:
  Janitor(std::shared_ptr<Store> store, std::shared_ptr<TokenService> tokens)
      : thread_([this, store, tokens] { run(store, tokens); }) {}
  ~Janitor() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void run(std::shared_ptr<Store> store, std::shared_ptr<TokenService> tokens) {
    auto next_prune = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::unique_lock lk(mu_);
    while (!cv_.wait_for(lk, std::chrono::seconds(5), [this] { return stop_; })) {
      lk.unlock();
      if (auto s = tokens->reload(); !s.ok())
        log::debug("signing key reload failed", {{"error", s.message()}});
      if (auto s = store->announceExpiredHubs(std::chrono::seconds(5)); !s.ok())
        log::debug("announcing expired hubs failed", {{"error", s.message()}});
      if (std::chrono::steady_clock::now() >= next_prune) {
        if (auto s = store->pruneExpired(); !s.ok())
          log::debug("prune failed", {{"error", s.message()}});
        next_prune = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      }
      lk.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
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
                    "default lifetime of a cluster bootstrap token");
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
  log::Level level;
  if (!log::parseLevel(o.log_level, &level)) {
    net::exitWithConfigError(
        kProgram, absl::InvalidArgumentError("--log-level must be debug, info, warn or error"));
  }
  if (auto s = o.validate(); !s.ok()) net::exitWithConfigError(kProgram, s);
  log::init("metaserver", level);

  auto listen = net::parseHostPort(o.listen);
  if (!listen.ok()) net::exitWithConfigError(kProgram, listen.status());
  auto admin_listen = net::parseHostPort(o.admin_listen);
  if (!admin_listen.ok()) net::exitWithConfigError(kProgram, admin_listen.status());
  if (!o.admin_token_file.empty()) {
    auto text = readFile(o.admin_token_file, "--admin-token-file");
    if (!text.ok()) net::exitWithConfigError(kProgram, text.status());
    o.admin_token = *text;
    while (!o.admin_token.empty() &&
           std::isspace(static_cast<unsigned char>(o.admin_token.back()))) {
      o.admin_token.pop_back();
    }
  }
  if (!o.admin_token.empty() && o.admin_token.size() < 16) {
    net::exitWithConfigError(
        kProgram, absl::InvalidArgumentError("the admin token must have at least 16 characters"));
  }
  ApiOptions api;
  api.issuer = o.issuer;
  api.hub_url = o.hub_url;
  api.admin_token = o.admin_token;
  api.default_token_ttl = seconds(o.token_ttl);
  api.max_token_ttl = seconds(o.max_token_ttl);
  api.kubeconfig_ttl = seconds(o.kubeconfig_ttl);
  api.bootstrap_ttl = seconds(o.bootstrap_ttl);
  api.agent_cert_ttl = seconds(o.agent_cert_ttl);
  api.hub_cert_ttl = seconds(o.hub_cert_ttl);
  if (!o.hub_ca_file.empty()) {
    auto pem = readFile(o.hub_ca_file, "--hub-ca-file");
    if (!pem.ok()) net::exitWithConfigError(kProgram, pem.status());
    if (pem->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      net::exitWithConfigError(kProgram,
                               absl::InvalidArgumentError("--hub-ca-file \"" + o.hub_ca_file +
                                                          "\" holds no PEM certificate"));
    }
    api.hub_ca_pem = *pem;
  }
  std::optional<CaRecord> ca_files;
  if (!o.ca_cert.empty()) {
    auto cert = readFile(o.ca_cert, "--ca-cert");
    if (!cert.ok()) net::exitWithConfigError(kProgram, cert.status());
    auto key = readFile(o.ca_key, "--ca-key");
    if (!key.ok()) net::exitWithConfigError(kProgram, key.status());
    ca_files = CaRecord{*cert, *key};
  }
  std::shared_ptr<net::TlsSource> tls;
  if (!o.insecure_http) {
    net::ServerTlsOptions server_tls{o.tls_cert, o.tls_key, ""};
    auto source = net::TlsSource::fromFiles("api", {o.tls_cert, o.tls_key}, [server_tls] {
      return net::makeServerContext(server_tls);
    });
    if (!source.ok()) net::exitWithConfigError(kProgram, source.status());
    tls = *source;
  }

  // Private keys at rest: sealed under the envelope key when one is given.
  std::shared_ptr<const SecretBox> box = SecretBox::plaintext();
  if (!o.encryption_key_file.empty()) {
    auto loaded = SecretBox::fromFile(o.encryption_key_file);
    if (!loaded.ok()) net::exitWithConfigError(kProgram, loaded.status());
    box = *loaded;
    log::info("private keys are sealed at rest", {{"encryption_key", box->primaryKeyId()}});
  } else {
    log::warn(
        "no --encryption-key-file: the token signing keys and the CA key are stored unencrypted "
        "in the database (anyone with a copy of it can sign tokens and certificates)");
  }

  // The database: migrations first (serialised across replicas), then secrets.
  auto start = std::chrono::steady_clock::now();
  {
    auto conn = connectAtStart(o);
    auto report = applyMigrations(*conn, builtinMigrations());
    if (!report.ok()) net::exitWithConfigError(kProgram, report.status());
    log::info("database schema ready", {{"applied", report->applied},
                                        {"already_applied", report->already_applied},
                                        {"version", builtinMigrations().back().version}});
  }
  auto pool = std::make_shared<PgPool>(o.database_url, static_cast<size_t>(o.db_pool_size),
                                       std::chrono::seconds(5));
  auto store = std::make_shared<Store>(
      pool, std::chrono::duration_cast<std::chrono::seconds>(o.registry_ttl), box);
  auto secrets = bootstrapSecrets(
      *pool, [] { return TokenService::newKey(); },
      [] { return CertificateAuthority::generate("kubehub-tunnel-ca", 3650); },
      !ca_files.has_value(), *box);
  if (!secrets.ok()) net::exitWithConfigError(kProgram, secrets);
  if (!ca_files) {
    auto stored = store->loadCa();
    if (!stored.ok()) net::exitWithConfigError(kProgram, stored.status());
    if (!*stored)
      net::exitWithConfigError(kProgram,
                               absl::InternalError("the CA is missing from the database"));
    ca_files = **stored;
  }
  auto ca = CertificateAuthority::load(*ca_files);
  if (!ca.ok()) net::exitWithConfigError(kProgram, ca.status());
  auto tokens =
      std::make_shared<TokenService>(*store, o.issuer, std::chrono::seconds(api.max_token_ttl));
  if (auto s = tokens->reload(); !s.ok()) net::exitWithConfigError(kProgram, s);
  auto metrics = std::make_shared<Metrics>(pool);

  asio::io_context io(static_cast<int>(o.threads));
  net::HttpServerOptions api_options;
  api_options.name = "api";
  api_options.max_body_bytes = static_cast<size_t>(o.max_body_bytes);
  api_options.tls_source = tls;
  std::shared_ptr<ApiServer> server;
  net::HttpServer api_http(io, api_options,
                           [&server](net::HttpRequest& req) { return server->handle(req); });
  auto api_bound = api_http.start(*listen);
  if (!api_bound.ok()) net::exitWithConfigError(kProgram, api_bound.status());
  if (o.public_url.empty()) {
    o.public_url = std::string(o.insecure_http ? "http" : "https") + "://" + api_bound->str();
  }
  api.public_url = o.public_url;
  server = std::make_shared<ApiServer>(api, store, tokens, *ca, metrics);
  // Hubs long-poll the change feeds (GET /api/v1/changes); the listener keeps them current
  // from the database's notifications, whichever replica made the change.
  auto changes = std::make_shared<ChangeFeed>();
  ChangeListener change_listener(o.database_url, changes);
  change_listener.start();
  server->setChangeFeed(changes);

  std::atomic<bool> ready{true};
  net::HttpServerOptions admin_options;
  admin_options.name = "admin";
  net::HttpServer admin(io, admin_options, [&](net::HttpRequest& req) -> net::HttpResponse {
    if (req.path == "/healthz" || req.path == "/livez") return {200, "text/plain", "ok\n", {}};
    if (req.path == "/readyz") {
      if (!ready.load()) return {503, "text/plain", "shutting down\n", {}};
      // Probes may come from outside: the reason, not the database's address (the pool logs
      // the full error when the database goes away).
      if (auto s = pool->ping(); !s.ok())
        return {503, "text/plain", clientErrorMessage(s, 503) + "\n", {}};
      return {200, "text/plain", "ok\n", {}};
    }
    if (req.path == "/metrics") return {200, "text/plain; version=0.0.4", metrics->render(), {}};
    return net::jsonError(404, "not found");
  });
  auto admin_bound = admin.start(*admin_listen);
  if (!admin_bound.ok()) net::exitWithConfigError(kProgram, admin_bound.status());
  Janitor janitor(store, tokens);
  std::unique_ptr<net::TlsReloader> tls_reloader;
  if (tls) {
    metrics->tlsCertificateExpiry(tls->notAfter());
    tls_reloader = std::make_unique<net::TlsReloader>(
        std::vector<std::shared_ptr<net::TlsSource>>{tls}, o.tls_reload_interval,
        [metrics](const net::TlsSource& source, bool ok) {
          metrics->tlsReload(ok);
          if (ok) metrics->tlsCertificateExpiry(source.notAfter());
        });
  }

  double startup_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  log::info("api listening", {{"address", api_bound->str()}, {"tls", !o.insecure_http}});
  log::info("admin listening", {{"address", admin_bound->str()}});
  log::info("metaserver started", {{"version", kVersion},
                                   {"threads", o.threads},
                                   {"db_pool", o.db_pool_size},
                                   {"startup_ms", static_cast<int64_t>(startup_ms)},
                                   {"admin_token", o.admin_token.empty() ? "none" : "set"}});
  net::runIoContext(io, static_cast<int>(o.threads), [&] {
    ready = false;
    api_http.stop();
    admin.stop();
    io.stop();
  });
  log::info("metaserver stopped");
  return 0;
}
