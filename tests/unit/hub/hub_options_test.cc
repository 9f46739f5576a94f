#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "hub/hub_server.h"

namespace kubehub::hub {
namespace {

/// The smallest valid configuration: a users' certificate, an agents' CA, static tokens.
HubOptions minimal() {
  HubOptions o;
  o.tls_cert = "users.crt";
  o.tls_key = "users.key";
  o.agent_ca = "agents-ca.crt";
  o.token_file = "tokens.csv";
  return o;
}

/// The same with a metaserver and peering.
HubOptions fleet() {
  HubOptions o = minimal();
  o.agent_ca.clear();
  o.token_file.clear();
  o.metaserver_url = "https://metaserver:8443";
  o.metaserver_token_file = "hub.token";
  o.peer_listen = "0.0.0.0:8445";
  return o;
}

TEST(HubOptions, DefaultsAreValid) {
  EXPECT_TRUE(minimal().validate().ok()) << minimal().validate();
  EXPECT_TRUE(fleet().validate().ok()) << fleet().validate();
}

TEST(HubOptions, WithDefaultsFillsDerivedValues) {
  HubOptions o = minimal().withDefaults();
  EXPECT_EQ(o.tunnel_tls_cert, "users.crt");
  EXPECT_EQ(o.tunnel_tls_key, "users.key");
  EXPECT_GE(o.threads, 1);
  EXPECT_FALSE(o.hub_id.empty());
  EXPECT_EQ(o.max_long_streams_per_user, 1024 / 8);
  EXPECT_EQ(o.max_long_streams_per_tenant, 1024 / 2);
  EXPECT_EQ(o.max_requests_per_user, 1024 / 4);
  EXPECT_EQ(o.max_requests_per_tenant, 1024 / 2);
  EXPECT_TRUE(o.validate().ok()) << o.validate();

  HubOptions explicit_values = minimal();
  explicit_values.tunnel_tls_cert = "tunnel.crt";
  explicit_values.threads = 3;
  explicit_values.hub_id = "hub-a";
  explicit_values.max_requests_per_user = 0;
  explicit_values.max_streams = 4;
  HubOptions filled = explicit_values.withDefaults();
  EXPECT_EQ(filled.tunnel_tls_cert, "tunnel.crt");
  EXPECT_EQ(filled.threads, 3);
  EXPECT_EQ(filled.hub_id, "hub-a");
  EXPECT_EQ(filled.max_requests_per_user, 0);
  EXPECT_EQ(filled.max_long_streams_per_user, 1);  // never below 1
  EXPECT_DOUBLE_EQ(filled.drainRate(), 100.0);
  EXPECT_DOUBLE_EQ(filled.rebalanceRate(), 2.0);
  EXPECT_DOUBLE_EQ(filled.tenantRate(), 500.0);
}

struct Rule {
  std::string name;
  HubOptions (*base)();
  std::function<void(HubOptions&)> breaks;
  std::string message;
};

TEST(HubOptions, EachRuleIsRefusedWithItsMessage) {
  using std::chrono::milliseconds;
  const std::vector<Rule> rules = {
      {"log level", minimal, [](HubOptions& o) { o.log_level = "loud"; },
       "--log-level must be debug, info, warn or error"},
      {"users' certificate", minimal, [](HubOptions& o) { o.tls_key.clear(); },
       "--tls-cert and --tls-key are required (the users' HTTPS endpoint)"},
      {"agents' CA", minimal, [](HubOptions& o) { o.agent_ca.clear(); },
       "--agent-ca is required without --metaserver-url"},
      {"a way in", minimal, [](HubOptions& o) { o.token_file.clear(); },
       "users need a way in: give --metaserver-url"},
      {"peering without metaserver", minimal, [](HubOptions& o) { o.peer_listen = ":8445"; },
       "--peer-listen needs --metaserver-url"},
      {"peer certificate without key", fleet, [](HubOptions& o) { o.peer_tls_cert = "p.crt"; },
       "--peer-tls-cert and --peer-tls-key go together"},
      {"advertised tunnel URL", minimal,
       [](HubOptions& o) { o.advertise_tunnel_url = "https://hub/tunnel"; },
       "--advertise-tunnel-url \"https://hub/tunnel\" is not a wss:// URL (or \"none\")"},
      {"metaserver token", fleet, [](HubOptions& o) { o.metaserver_token_file.clear(); },
       "--metaserver-token-file is required with --metaserver-url"},
      {"drain rate", minimal, [](HubOptions& o) { o.drain_rate_milli = 0; },
       "--drain-rate-milli must be >= 1"},
      {"rebalance rate", minimal, [](HubOptions& o) { o.rebalance_rate_milli = -1; },
       "--drain-rate-milli must be >= 1"},
      {"drain timeout", minimal, [](HubOptions& o) { o.drain_timeout = milliseconds(-1); },
       "--drain-rate-milli must be >= 1"},
      {"tenant rate", minimal, [](HubOptions& o) { o.tenant_rate_milli = -1; },
       "--tenant-rate must be >= 0 and --tenant-burst >= 1"},
      {"tenant burst", minimal, [](HubOptions& o) { o.tenant_burst = 0; },
       "--tenant-rate must be >= 0 and --tenant-burst >= 1"},
      {"threads", minimal, [](HubOptions& o) { o.threads = 257; }, "--threads must be at most 256"},
      {"tunnel threads", minimal, [](HubOptions& o) { o.tunnel_threads = -1; },
       "--tunnel-threads must be between 0 and 256"},
      {"stream window", minimal, [](HubOptions& o) { o.stream_window = 1024; },
       "--stream-window must be between 32768 and 1073741824"},
      {"max streams", minimal, [](HubOptions& o) { o.max_streams = 0; },
       "--max-streams must be between 1 and 65536"},
      {"write timeout", minimal, [](HubOptions& o) { o.write_timeout = milliseconds(99); },
       "--write-timeout, --idle-timeout and --handshake-timeout must be at least 100ms"},
      {"max connections", minimal, [](HubOptions& o) { o.max_connections = -2; },
       "--max-connections and --max-connections-per-client must be >= 0"},
      {"stream limits", minimal, [](HubOptions& o) { o.max_requests_per_tenant = 2000; },
       "must not exceed --max-streams (0: no limit)"},
      {"ping interval", minimal, [](HubOptions& o) { o.ping_interval = milliseconds(50); },
       "--ping-interval must be at least 100ms"},
      {"tunnel idle timeout", minimal,
       [](HubOptions& o) { o.tunnel_idle_timeout = milliseconds(20000); },
       "--tunnel-idle-timeout must be at least twice --ping-interval"},
      {"cache window", minimal, [](HubOptions& o) { o.cache_window = 0; },
       "--cache-max-bytes and --cache-window-bytes must be >= 0, --cache-window >= 1"},
      {"cache window bytes", minimal,
       [](HubOptions& o) {
         o.cache_max_bytes = 1000;
         o.cache_window_bytes = 1001;
       },
       "--cache-window-bytes must not exceed --cache-max-bytes"},
      {"cache kept detached", minimal,
       [](HubOptions& o) { o.cache_keep_detached = std::chrono::milliseconds(-1); },
       "--cache-keep-detached must not be negative"},
      {"listen address", minimal, [](HubOptions& o) { o.listen = "no-port"; }, ""},
      {"metaserver URL", fleet, [](HubOptions& o) { o.metaserver_url = "not a url"; },
       "--metaserver-url \"not a url\" is not a URL"},
  };
  for (const auto& rule : rules) {
    HubOptions o = rule.base();
    rule.breaks(o);
    absl::Status s = o.validate();
    ASSERT_FALSE(s.ok()) << rule.name;
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << rule.name << ": " << s;
    std::string message(s.message());
    EXPECT_NE(message.find(rule.message), std::string::npos) << rule.name << ": " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << rule.name << ": one line";
  }
}

}  // namespace
}  // namespace kubehub::hub
