#pragma once
/// The metaserver's composition root: MetaserverOptions (what main.cc fills from flags) and
/// MetaserverServer, which prepares the database (migrations, signing keys, CA), wires the REST
/// API, the change listener, the admin endpoint and the janitor together, starts and stops them.
/// main.cc and in-process tests share it. Its methods are called from one thread except stop().

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/net/address.h"

namespace kubehub::metaserver {

/// Everything the metaserver is configured with; defaults are the flags' defaults.
struct MetaserverOptions {
  std::string listen = "0.0.0.0:8443";
  std::string admin_listen = "0.0.0.0:9090";
  std::string tls_cert, tls_key;
  bool insecure_http = false;
  std::string database_url;
  std::string admin_token_file;
  std::string admin_token;
  std::string hub_url;
  std::string hub_ca_file;
  std::string public_url;  // empty: the bound address
  std::string ca_cert, ca_key;
  std::string encryption_key_file;
  std::string issuer = "kubehub-metaserver";
  std::chrono::milliseconds token_ttl{std::chrono::hours(24)};
  std::chrono::milliseconds max_token_ttl{std::chrono::hours(720)};
  std::chrono::milliseconds kubeconfig_ttl{std::chrono::hours(24)};
  std::chrono::milliseconds bootstrap_ttl{std::chrono::hours(1)};
  std::chrono::milliseconds agent_cert_ttl{std::chrono::hours(8760)};
  std::chrono::milliseconds hub_cert_ttl{std::chrono::hours(2160)};
  std::chrono::milliseconds registry_ttl{std::chrono::seconds(30)};
  std::chrono::milliseconds db_wait{std::chrono::seconds(30)};
  std::chrono::milliseconds tls_reload_interval{std::chrono::seconds(10)};
  int64_t threads = 8;
  int64_t db_pool_size = 0;  // 0: threads
  int64_t max_body_bytes = 1 << 20;
  std::string log_level = "info";

  /// The first rule these options break, as a one-line message naming the flags; OK if none.
  /// Reads no files: what needs them (the admin token file, the CA files) is checked by start().
  absl::Status validate() const;
  /// A copy with the derived defaults filled in: the pool size, --hub-url without trailing '/'.
  MetaserverOptions withDefaults() const;
};

/// Where a started metaserver listens (port 0 in the options: the port the system chose).
struct MetaserverAddresses {
  net::HostPort api;
  net::HostPort admin;
};

/// The metaserver: owns its I/O threads, database pool, listeners, change listener and janitor
/// thread. start() once, then run() (blocks) on one thread; stop() from any thread ends run().
class MetaserverServer {
 public:
  /// `options` must be valid (validate()); derived defaults are filled here. `version` is logged.
  MetaserverServer(const MetaserverOptions& options, std::string version);
  ~MetaserverServer();
  MetaserverServer(const MetaserverServer&) = delete;
  MetaserverServer& operator=(const MetaserverServer&) = delete;

  /// Reads the token, CA and key files, waits up to --db-wait for PostgreSQL, applies the
  /// migrations, loads or creates the signing keys and the CA, and binds the listeners.
  absl::StatusOr<MetaserverAddresses> start();

  /// Runs the I/O threads until the metaserver has stopped, then stops the janitor. With
  /// `on_signal`, the first SIGINT/SIGTERM calls it (usually stop()), a second stops at once.
  void run(std::function<void()> on_signal);

  /// /readyz answers 503, the listeners close and run() returns. Thread-safe; idempotent.
  void stop();

  /// The options with their defaults filled in (public_url once started).
  const MetaserverOptions& options() const;

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace kubehub::metaserver
