#pragma once
/// The hub's TLS material, kept current while it runs:
///  - the users' and the tunnel listeners' serving certificates (and the CA that signs agents'
///    certificates) come from files and are reloaded when the files change (a Secret update,
///    cert-manager's renewal): new connections take the new ones, open ones keep theirs;
///  - the CA that signs agents' and hubs' certificates may instead come from the metaserver
///    (`GET /api/v1/ca.crt`), refreshed periodically;
///  - the peer-link certificate (O=kubehub:hubs, CN=hub id) may come from files, or be enrolled
///    with the metaserver by the hub itself: the key is made in this process and never leaves
///    it, the certificate is renewed two thirds into its lifetime, and links dialed after a
///    renewal present the new one.
/// One background thread polls files and renews; everything else reads TlsSources.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/net/tls.h"
#include "common/net/tls_source.h"

namespace kubehub::hub {

struct HubCredentialOptions {
  std::string hub_id;
  std::string tls_cert, tls_key;                // users' endpoint
  std::string tunnel_tls_cert, tunnel_tls_key;  // tunnel listener
  /// CA that signs agents' certificates; empty: the metaserver's CA.
  std::string agent_ca;
  /// Peering: with peer_enabled, either both files, or neither (the hub enrols its own).
  bool peer_enabled = false;
  std::string peer_tls_cert, peer_tls_key;
  /// CA that signs hubs' certificates; empty: agent_ca (or the metaserver's CA).
  std::string peer_ca;
  /// The metaserver, for the CA and enrolment; empty URL: files only.
  std::string metaserver_url;
  std::string metaserver_token;
  /// When set, the token in force (overrides metaserver_token).
  std::function<std::string()> metaserver_token_source;
  net::ClientTlsOptions metaserver_tls;
  std::chrono::milliseconds request_timeout{5000};
  /// How often files are checked for changes (0: never).
  std::chrono::milliseconds reload_interval{10000};
  /// How often the metaserver's CA is fetched again when it is used.
  std::chrono::milliseconds ca_refresh_interval{60000};
  /// At start, how long to keep trying the metaserver for the CA and the first enrolment.
  std::chrono::milliseconds start_wait{30000};
};

/// What the hub's peer-link certificate renewal reports (for metrics).
struct CredentialEvents {
  std::function<void(const net::TlsSource&, bool ok)> reload;  // a source rebuilt (or failed)
  std::function<void(bool ok)> enrolment;                      // a peer certificate asked for
};

class HubCredentials {
 public:
  /// Loads the files, fetches the CA and enrols the peer certificate as configured; an error
  /// here is a start-up error that names what is wrong.
  static absl::StatusOr<std::unique_ptr<HubCredentials>> create(HubCredentialOptions options,
                                                                CredentialEvents events = {});
  ~HubCredentials();
  HubCredentials(const HubCredentials&) = delete;
  HubCredentials& operator=(const HubCredentials&) = delete;

  std::shared_ptr<net::TlsSource> users() const { return users_; }
  std::shared_ptr<net::TlsSource> tunnel() const { return tunnel_; }
  /// Null without peering.
  std::shared_ptr<net::TlsSource> peerServer() const { return peer_server_; }
  std::shared_ptr<net::TlsSource> peerClient() const { return peer_client_; }
  /// Every source, for metrics.
  std::vector<std::shared_ptr<net::TlsSource>> sources() const;
  /// True when the peer certificate is enrolled by the hub itself.
  bool enrolsPeerCertificate() const { return enrol_; }

  /// Starts the background thread (file polling, CA refresh, renewal).
  void start();
  /// One pass of the background work now (tests).
  void pollOnce();

 private:
  explicit HubCredentials(HubCredentialOptions options, CredentialEvents events);
  absl::Status init();
  absl::StatusOr<std::string> fetchCa();
  absl::Status enrol();
  /// Rebuilds the sources whose trust depends on the metaserver's CA after it changed.
  void caChanged();
  void run();
  std::string agentCaPem() const;

  const HubCredentialOptions options_;
  const CredentialEvents events_;
  const bool ca_from_metaserver_;
  const bool enrol_;
  std::shared_ptr<net::TlsSource> users_, tunnel_, peer_server_, peer_client_;

  mutable std::mutex mu_;
  std::string metaserver_ca_;  // PEM, when ca_from_metaserver_
  std::string peer_cert_pem_, peer_key_pem_;
  int64_t renew_at_ = 0;
  int64_t next_ca_refresh_ = 0;
  int64_t retry_at_ = 0;
  std::chrono::steady_clock::time_point next_files_{};
  /// Compares and reloads the file-backed sources (no thread of its own: run() polls it).
  std::unique_ptr<net::TlsReloader> files_;
  std::chrono::seconds retry_delay_{5};

  std::mutex run_mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace kubehub::hub
