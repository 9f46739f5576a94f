#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "metaserver/metaserver_server.h"

namespace kubehub::metaserver {
namespace {

/// The flags' defaults plus what has none: a database and a serving certificate.
MetaserverOptions valid() {
  MetaserverOptions o;
  o.database_url = "host=/tmp/kubehub-pg user=postgres dbname=postgres";
  o.tls_cert = "metaserver.crt";
  o.tls_key = "metaserver.key";
  return o;
}

TEST(MetaserverOptions, DefaultsAreValid) {
  EXPECT_TRUE(valid().validate().ok()) << valid().validate();
  MetaserverOptions plain = valid();
  plain.tls_cert.clear();
  plain.tls_key.clear();
  plain.insecure_http = true;
  plain.listen = "127.0.0.1:0";
  plain.admin_listen = "127.0.0.1:0";
  plain.hub_url = "https://hub.example.com:8443/";
  plain.ca_cert = "ca.crt";
  plain.ca_key = "ca.key";
  plain.admin_token = "0123456789abcdef";
  EXPECT_TRUE(plain.validate().ok()) << plain.validate();
  MetaserverOptions uri = valid();
  uri.database_url = "postgresql://kubehub@db.example.com:5432/kubehub";
  EXPECT_TRUE(uri.validate().ok()) << uri.validate();
  MetaserverOptions longest_bootstrap = valid();
  longest_bootstrap.bootstrap_ttl = std::chrono::hours(168);
  EXPECT_TRUE(longest_bootstrap.validate().ok()) << longest_bootstrap.validate();
}

TEST(MetaserverOptions, WithDefaultsFillsDerivedValues) {
  MetaserverOptions o = valid();
  o.hub_url = "https://hub.example.com:8443//";
  o.threads = 4;
  MetaserverOptions d = o.withDefaults();
  EXPECT_EQ(d.hub_url, "https://hub.example.com:8443");
  EXPECT_EQ(d.db_pool_size, 4);
  EXPECT_TRUE(d.validate().ok()) << d.validate();
  o.db_pool_size = 20;
  EXPECT_EQ(o.withDefaults().db_pool_size, 20);
}

struct Rule {
  std::string name;
  std::function<void(MetaserverOptions&)> breaks;
  std::string message;  // what the one-line message starts with
};

TEST(MetaserverOptions, EachRuleIsRefusedWithItsMessage) {
  using std::chrono::milliseconds;
  const std::vector<Rule> rules = {
      {"log level", [](MetaserverOptions& o) { o.log_level = "loud"; },
       "--log-level must be debug, info, warn or error"},
      {"database required", [](MetaserverOptions& o) { o.database_url.clear(); },
       "--database-url is required (libpq conninfo or postgresql:// URI)"},
      {"database URL", [](MetaserverOptions& o) { o.database_url = "host"; },
       "invalid database URL: "},
      {"plain HTTP with a certificate", [](MetaserverOptions& o) { o.insecure_http = true; },
       "--insecure-http and --tls-cert/--tls-key exclude each other"},
      {"certificate required", [](MetaserverOptions& o) { o.tls_key.clear(); },
       "--tls-cert and --tls-key are required (or --insecure-http for plain HTTP on a trusted "
       "host)"},
      {"two admin tokens",
       [](MetaserverOptions& o) {
         o.admin_token = "0123456789abcdef";
         o.admin_token_file = "token";
       },
       "give --admin-token or --admin-token-file, not both"},
      {"CA certificate without key", [](MetaserverOptions& o) { o.ca_cert = "ca.crt"; },
       "--ca-cert and --ca-key go together"},
      {"CA key without certificate", [](MetaserverOptions& o) { o.ca_key = "ca.key"; },
       "--ca-cert and --ca-key go together"},
      {"hub URL", [](MetaserverOptions& o) { o.hub_url = "not a URL"; }, "--hub-url: "},
      {"hub URL scheme", [](MetaserverOptions& o) { o.hub_url = "http://hub.example.com"; },
       "--hub-url must be an https:// URL"},
      {"no threads", [](MetaserverOptions& o) { o.threads = 0; },
       "--threads must be between 1 and 256"},
      {"too many threads", [](MetaserverOptions& o) { o.threads = 257; },
       "--threads must be between 1 and 256"},
      {"pool size", [](MetaserverOptions& o) { o.db_pool_size = -1; },
       "--db-pool-size must be between 1 and 1000"},
      {"pool too large", [](MetaserverOptions& o) { o.db_pool_size = 1001; },
       "--db-pool-size must be between 1 and 1000"},
      {"reload interval", [](MetaserverOptions& o) { o.tls_reload_interval = milliseconds(-1); },
       "--tls-reload-interval must not be negative"},
      {"small body limit", [](MetaserverOptions& o) { o.max_body_bytes = 1023; },
       "--max-body-bytes must be between 1024 and 67108864"},
      {"large body limit", [](MetaserverOptions& o) { o.max_body_bytes = (64 << 20) + 1; },
       "--max-body-bytes must be between 1024 and 67108864"},
      {"token TTL", [](MetaserverOptions& o) { o.token_ttl = milliseconds(999); },
       "--token-ttl must be at least 1s"},
      {"max token TTL", [](MetaserverOptions& o) { o.max_token_ttl = milliseconds(0); },
       "--max-token-ttl must be at least 1s"},
      {"kubeconfig TTL", [](MetaserverOptions& o) { o.kubeconfig_ttl = milliseconds(0); },
       "--kubeconfig-ttl must be at least 1s"},
      {"bootstrap TTL", [](MetaserverOptions& o) { o.bootstrap_ttl = milliseconds(0); },
       "--bootstrap-ttl must be at least 1s"},
      {"agent certificate TTL", [](MetaserverOptions& o) { o.agent_cert_ttl = milliseconds(0); },
       "--agent-cert-ttl must be at least 1s"},
      {"hub certificate TTL", [](MetaserverOptions& o) { o.hub_cert_ttl = milliseconds(0); },
       "--hub-cert-ttl must be at least 1s"},
      {"registry TTL", [](MetaserverOptions& o) { o.registry_ttl = milliseconds(500); },
       "--registry-ttl must be at least 1s"},
      {"token TTL above the maximum",
       [](MetaserverOptions& o) { o.token_ttl = o.max_token_ttl + milliseconds(1000); },
       "--token-ttl and --kubeconfig-ttl must not exceed --max-token-ttl"},
      {"bootstrap TTL above the cap",
       [](MetaserverOptions& o) { o.bootstrap_ttl = std::chrono::hours(168) + milliseconds(1000); },
       "--bootstrap-ttl must be at most 168h (a bootstrap token lives at most 7 days)"},
      {"kubeconfig TTL above the maximum",
       [](MetaserverOptions& o) { o.kubeconfig_ttl = o.max_token_ttl + milliseconds(1000); },
       "--token-ttl and --kubeconfig-ttl must not exceed --max-token-ttl"},
      {"API address", [](MetaserverOptions& o) { o.listen = "no-port"; },
       "invalid address \"no-port\""},
      {"admin address", [](MetaserverOptions& o) { o.admin_listen = "no-port"; },
       "invalid address \"no-port\""},
      {"short admin token", [](MetaserverOptions& o) { o.admin_token = "short"; },
       "the admin token must have at least 16 characters"},
  };
  for (const auto& rule : rules) {
    MetaserverOptions o = valid();
    rule.breaks(o);
    absl::Status s = o.validate();
    ASSERT_FALSE(s.ok()) << rule.name;
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << rule.name << ": " << s;
    std::string message(s.message());
    EXPECT_EQ(message.rfind(rule.message, 0), 0u) << rule.name << ": " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << rule.name << ": one line";
  }
}

}  // namespace
}  // namespace kubehub::metaserver
