#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "agent/agent_server.h"

namespace kubehub::agent {
namespace {

/// An agent with a certificate issued elsewhere.
AgentOptions withFiles() {
  AgentOptions o;
  o.hub_urls = {"wss://hub.example.com:8444/tunnel"};
  o.tls_cert = "agent.crt";
  o.tls_key = "agent.key";
  o.cluster = "edge-1";
  return o;
}

/// An agent that enrols with the metaserver.
AgentOptions enrolling() {
  AgentOptions o;
  o.hub_urls = {"wss://hub.example.com:8444/tunnel"};
  o.credentials_dir = "/var/lib/kubehub";
  o.metaserver_url = "https://metaserver.example.com:8443/";
  o.bootstrap_token = " token-0123456789 \n";
  o.cluster = "edge-1";
  o.ns = "kubehub";
  return o;
}

TEST(AgentOptions, DefaultsAreValid) {
  EXPECT_TRUE(withFiles().validate().ok()) << withFiles().validate();
  EXPECT_TRUE(enrolling().validate().ok()) << enrolling().validate();
  AgentOptions native = enrolling();
  native.mode = "native";
  native.ns.clear();
  EXPECT_TRUE(native.validate().ok()) << native.validate();
}

TEST(AgentOptions, ResolvedFillsDerivedValues) {
  AgentOptions o = enrolling();
  o.hub_urls = {"wss://HUB.example.com/tunnel", "wss://hub.example.com:443/tunnel",
                "wss://hub-b.example.com:8444"};
  auto r = o.resolved();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->hubs, (std::vector<std::string>{"wss://hub.example.com:443/tunnel",
                                               "wss://hub-b.example.com:8444/tunnel"}));
  EXPECT_EQ(r->metaserver_url, "https://metaserver.example.com:8443");
  EXPECT_EQ(r->bootstrap_token, "token-0123456789");
  EXPECT_EQ(r->ns, "kubehub");

  auto dir = std::filesystem::temp_directory_path() /
             ("kubehub-agent-options-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "token") << "token-from-file\n";
  AgentOptions from_file = enrolling();
  from_file.bootstrap_token.clear();
  from_file.bootstrap_token_file = (dir / "token").string();
  auto f = from_file.resolved();
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->bootstrap_token, "token-from-file");
  from_file.bootstrap_token_file = (dir / "missing").string();
  auto missing = from_file.resolved();
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.status().message()).find("cannot be read"), std::string::npos);
  std::filesystem::remove_all(dir);

  AgentOptions unnamed = withFiles();
  unnamed.cluster.clear();
  unnamed.tls_cert = "/nonexistent/agent.crt";
  auto u = unnamed.resolved();
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.status().message(), "--cluster is required (the certificate names no cluster)");
}

struct Rule {
  std::string name;
  AgentOptions (*base)();
  std::function<void(AgentOptions&)> breaks;
  std::string message;
};

TEST(AgentOptions, EachRuleIsRefusedWithItsMessage) {
  using std::chrono::milliseconds;
  const std::vector<Rule> rules = {
      {"log level", withFiles, [](AgentOptions& o) { o.log_level = "loud"; },
       "--log-level must be debug, info, warn or error"},
      {"mode", withFiles, [](AgentOptions& o) { o.mode = "vm"; },
       "--mode must be kubernetes or native, got \"vm\""},
      {"native with a kubeconfig", withFiles,
       [](AgentOptions& o) {
         o.mode = "native";
         o.kubeconfig = "kubeconfig";
       },
       "--kubeconfig needs a Kubernetes API server; --mode native has none"},
      {"native disk path", withFiles,
       [](AgentOptions& o) {
         o.mode = "native";
         o.host_disk_path = "data";
       },
       "--host-disk-path must be an absolute path, got \"data\""},
      {"hub URL required", withFiles, [](AgentOptions& o) { o.hub_urls.clear(); },
       "--hub-url is required"},
      {"hub URL scheme", withFiles, [](AgentOptions& o) { o.hub_urls = {"ws://hub/tunnel"}; },
       "--hub-url: "},
      {"hub connections", withFiles, [](AgentOptions& o) { o.hub_connections = 17; },
       "--hub-connections must be between 1 and 16"},
      {"two credential stores", enrolling, [](AgentOptions& o) { o.credentials_secret = "s"; },
       "give --credentials-dir or --credentials-secret, not both"},
      {"files and enrolment", enrolling, [](AgentOptions& o) { o.tls_cert = "agent.crt"; },
       "give --tls-cert/--tls-key (a certificate issued elsewhere) or"},
      {"enrolment without cluster", enrolling, [](AgentOptions& o) { o.cluster.clear(); },
       "--cluster is required with --credentials-dir/--credentials-secret"},
      {"enrolment without metaserver", enrolling, [](AgentOptions& o) { o.metaserver_url.clear(); },
       "--metaserver-url is required with --credentials-dir/--credentials-secret"},
      {"metaserver scheme", enrolling,
       [](AgentOptions& o) { o.metaserver_url = "ftp://metaserver"; },
       "--metaserver-url must be an https:// (or http://) URL, got \"ftp://metaserver\""},
      {"secret name", enrolling,
       [](AgentOptions& o) {
         o.credentials_dir.clear();
         o.credentials_secret = "Not_A_Name";
       },
       "--credentials-secret must be a Secret name, got \"Not_A_Name\""},
      {"two bootstrap tokens", enrolling, [](AgentOptions& o) { o.bootstrap_token_file = "token"; },
       "give --bootstrap-token-file or KUBEHUB_BOOTSTRAP_TOKEN, not both"},
      {"namespace", enrolling, [](AgentOptions& o) { o.ns = "Bad_NS"; },
       "--namespace must be a DNS label, got \"Bad_NS\""},
      {"bootstrap token without enrolment", withFiles,
       [](AgentOptions& o) { o.bootstrap_token = "token"; },
       "a bootstrap token needs --credentials-dir or --credentials-secret"},
      {"certificate required", withFiles, [](AgentOptions& o) { o.tls_key.clear(); },
       "--tls-cert and --tls-key are required"},
      {"reload interval", withFiles,
       [](AgentOptions& o) { o.tls_reload_interval = milliseconds(-1); },
       "--tls-reload-interval must not be negative"},
      {"cluster name", withFiles, [](AgentOptions& o) { o.cluster = "Edge_1"; },
       "--cluster must be a DNS label, got \"Edge_1\""},
      {"backoff", withFiles, [](AgentOptions& o) { o.backoff_max = milliseconds(100); },
       "--backoff-base must be > 0 and <= --backoff-max"},
      {"status interval", withFiles,
       [](AgentOptions& o) { o.status_interval = milliseconds(5000); },
       "--status-interval must be at least 10s"},
      {"status check interval", withFiles,
       [](AgentOptions& o) { o.status_check_interval = milliseconds(500); },
       "--status-check-interval must be at least 1s"},
      {"upstream idle timeout", withFiles,
       [](AgentOptions& o) { o.upstream_idle_timeout = milliseconds(999); },
       "--upstream-idle-timeout must be at least 1s"},
      {"upstream pool too large", withFiles, [](AgentOptions& o) { o.upstream_max_idle = 4097; },
       "--upstream-max-idle must be between 0 and 4096"},
      {"upstream pool negative", withFiles, [](AgentOptions& o) { o.upstream_max_idle = -1; },
       "--upstream-max-idle must be between 0 and 4096"},
      {"admin address", withFiles, [](AgentOptions& o) { o.admin_listen = "no-port"; }, ""},
  };
  for (const auto& rule : rules) {
    AgentOptions o = rule.base();
    rule.breaks(o);
    absl::Status s = o.validate();
    ASSERT_FALSE(s.ok()) << rule.name;
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << rule.name << ": " << s;
    std::string message(s.message());
    EXPECT_NE(message.find(rule.message), std::string::npos) << rule.name << ": " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << rule.name << ": one line";
    EXPECT_FALSE(o.resolved().ok()) << rule.name;
  }
}

}  // namespace
}  // namespace kubehub::agent
