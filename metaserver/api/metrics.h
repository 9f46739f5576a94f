#pragma once
/// The metaserver's Prometheus metrics (names kubehub_metaserver_*), all declared here.
/// Labels are bounded: operation ids from the route table and HTTP status codes. Thread-safe.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace prometheus {
class Registry;
}

namespace kubehub::metaserver {

class PgPool;

class Metrics {
 public:
  explicit Metrics(std::shared_ptr<PgPool> pool);
  ~Metrics();
  void request(std::string_view operation, int status, double seconds);
  void tokenIssued();
  void tokenRevoked();
  void certificateIssued(std::string_view kind);
  void auditWriteFailed();
  /// The REST API's serving certificate files changed: reloaded (`ok`) or kept the old one.
  void tlsReload(bool ok);
  /// notAfter of the serving certificate in force (seconds since the epoch).
  void tlsCertificateExpiry(int64_t not_after);
  /// The Prometheus text exposition of everything.
  std::string render();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kubehub::metaserver
