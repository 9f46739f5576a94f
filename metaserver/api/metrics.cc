#include "metaserver/api/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "metaserver/store/pg.h"

namespace kubehub::metaserver {

struct Metrics::Impl {
  explicit Impl(std::shared_ptr<PgPool> p)
      : pool(std::move(p)),
        registry(std::make_shared<prometheus::Registry>()),
        requests(prometheus::BuildCounter()
                     .Name("kubehub_metaserver_requests_total")
                     .Help("REST API requests by operation and HTTP status.")
                     .Register(*registry)),
        latency(prometheus::BuildHistogram()
                    .Name("kubehub_metaserver_request_duration_seconds")
                    .Help("REST API request latency by operation.")
                    .Register(*registry)),
        tokens(prometheus::BuildCounter()
                   .Name("kubehub_metaserver_tokens_total")
                   .Help("Tokens issued and revoked.")
                   .Register(*registry)),
        certificates(prometheus::BuildCounter()
                         .Name("kubehub_metaserver_certificates_issued_total")
                         .Help("Certificates signed by the tunnel CA, by kind.")
                         .Register(*registry)),
        audit_failures(prometheus::BuildCounter()
                           .Name("kubehub_metaserver_audit_write_failures_total")
                           .Help("Audit records that could not be written to the database (they "
                                 "are still logged).")
                           .Register(*registry)
                           .Add({})),
        tls_reloads(prometheus::BuildCounter()
                        .Name("kubehub_metaserver_tls_reloads_total")
                        .Help("Changes of the REST API's certificate files: reloaded (ok) or "
                              "not usable, the certificate in force kept (error).")
                        .Register(*registry)),
        tls_expiry(prometheus::BuildGauge()
                       .Name("kubehub_metaserver_tls_certificate_expiry_timestamp_seconds")
                       .Help("notAfter of the REST API's serving certificate in force.")
                       .Register(*registry)
                       .Add({})),
        db(prometheus::BuildGauge()
               .Name("kubehub_metaserver_db_connections")
               .Help("PostgreSQL connections of the pool, by state.")
               .Register(*registry)),
        db_events(prometheus::BuildGauge()
                      .Name("kubehub_metaserver_db_events")
                      .Help("PostgreSQL pool events since start (connects, connect failures, lost "
                            "connections).")
                      .Register(*registry)) {}

  std::shared_ptr<PgPool> pool;
  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& latency;
  prometheus::Family<prometheus::Counter>& tokens;
  prometheus::Family<prometheus::Counter>& certificates;
  prometheus::Counter& audit_failures;
  prometheus::Family<prometheus::Counter>& tls_reloads;
  prometheus::Gauge& tls_expiry;
  prometheus::Family<prometheus::Gauge>& db;
  prometheus::Family<prometheus::Gauge>& db_events;
};

Metrics::Metrics(std::shared_ptr<PgPool> pool) : impl_(std::make_unique<Impl>(std::move(pool))) {}
Metrics::~Metrics() = default;

void Metrics::request(std::string_view operation, int status, double seconds) {
  std::string op(operation);
  impl_->requests.Add({{"operation", op}, {"code", std::to_string(status)}}).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  impl_->latency.Add({{"operation", op}}, kBuckets).Observe(seconds);
}

void Metrics::tokenIssued() { impl_->tokens.Add({{"event", "issued"}}).Increment(); }
void Metrics::tokenRevoked() { impl_->tokens.Add({{"event", "revoked"}}).Increment(); }
void Metrics::certificateIssued(std::string_view kind) {
  impl_->certificates.Add({{"kind", std::string(kind)}}).Increment();
}
void Metrics::auditWriteFailed() { impl_->audit_failures.Increment(); }
void Metrics::tlsReload(bool ok) {
  impl_->tls_reloads.Add({{"result", ok ? "ok" : "error"}}).Increment();
}
void Metrics::tlsCertificateExpiry(int64_t not_after) {
  impl_->tls_expiry.Set(static_cast<double>(not_after));
}

std::string Metrics::render() {
  if (impl_->pool) {
    PgPoolStats s = impl_->pool->stats();
    impl_->db.Add({{"state", "open"}}).Set(static_cast<double>(s.open));
    impl_->db.Add({{"state", "idle"}}).Set(static_cast<double>(s.idle));
    impl_->db_events.Add({{"event", "connect"}}).Set(static_cast<double>(s.connects));
    impl_->db_events.Add({{"event", "connect_failure"}})
        .Set(static_cast<double>(s.connect_failures));
    impl_->db_events.Add({{"event", "lost"}}).Set(static_cast<double>(s.broken));
  }
  return prometheus::TextSerializer{}.Serialize(impl_->registry->Collect());
}

}  // namespace kubehub::metaserver
