#pragma once
/// The agent's composition root: AgentOptions (what main.cc fills from flags and KUBEHUB_*
/// variables) and AgentServer, which wires the edge API server client, the tunnels to the hubs,
/// enrolment and the admin endpoint together and runs them on one io_context.
/// AgentServer's methods are called from one thread except stop().

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/net/address.h"

namespace kubehub::agent {

/// Everything the agent is configured with; defaults are the flags' defaults.
struct AgentOptions {
  std::vector<std::string> hub_urls;
  int64_t hub_connections = 2;
  std::string cluster;  // empty: the client certificate's CN
  std::string tls_cert, tls_key, hub_ca;
  std::chrono::milliseconds tls_reload_interval{10000};
  // Enrolment with the metaserver instead of --tls-cert/--tls-key.
  std::string metaserver_url, metaserver_ca;
  std::string bootstrap_token_file, bootstrap_token;
  std::string credentials_dir, credentials_secret, ns;
  std::string kubeconfig, context;
  std::string admin_listen = "0.0.0.0:9091";
  std::string commands_file;
  std::string mode = "kubernetes";
  std::string host_disk_path = "/";
  std::string log_level = "info";
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{30000};
  std::chrono::milliseconds response_timeout{60000};
  /// The keep-alive pool of connections to the API server (UpstreamOptions).
  std::chrono::milliseconds upstream_idle_timeout{90000};
  int64_t upstream_max_idle = 256;
  std::chrono::milliseconds status_interval{60000};
  std::chrono::milliseconds status_check_interval{10000};

  // Filled by resolved(): --hub-url in canonical form, without repeats.
  std::vector<std::string> hubs;

  /// The first rule these options break, as a one-line message naming the flags; OK if none.
  /// Reads no files: what needs them (the bootstrap token file, the certificate's CN, the pod's
  /// namespace) is checked by resolved().
  absl::Status validate() const;
  /// A copy with what is derived filled in: canonical hubs, the bootstrap token read and
  /// trimmed, the namespace, the cluster from the certificate; an error when that fails.
  absl::StatusOr<AgentOptions> resolved() const;

  /// --mode native: a bare host, native commands only, no API server.
  bool native() const { return mode == "native"; }
  bool enrolling() const { return !credentials_dir.empty() || !credentials_secret.empty(); }
};

/// The agent: owns its io_context, tunnels, enrolment and admin endpoint. start() once, then
/// run() (blocks); stop() from any thread ends run().
class AgentServer {
 public:
  /// `options` must come from resolved(). `version` and `build` are reported to hubs and in
  /// the cluster status.
  AgentServer(AgentOptions options, std::string version, std::string build);
  ~AgentServer();
  AgentServer(const AgentServer&) = delete;
  AgentServer& operator=(const AgentServer&) = delete;

  /// Loads the commands file, the TLS files or credential store and the API server target,
  /// binds the admin endpoint (its address returned) and starts dialing the hubs.
  absl::StatusOr<net::HostPort> start();

  /// Runs until stop() or, with `on_signal`, a signal (which calls it: usually stop()).
  /// Returns the process's exit code: 1 when enrolment failed for good, else 0.
  int run(std::function<void()> on_signal);

  /// Ends run(). Thread-safe.
  void stop();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace kubehub::agent
