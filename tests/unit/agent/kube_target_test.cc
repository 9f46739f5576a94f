#include "agent/kube/kube_target.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace kubehub::agent {
namespace {

constexpr const char* kKubeconfig = R"(
apiVersion: v1
kind: Config
current-context: edge
clusters:
- name: edge
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: aGVsbG8=
- name: other
  cluster:
    server: https://other.example.com
    certificate-authority: certs/ca.crt
    tls-server-name: api.internal
users:
- name: agent
  user:
    token: abc123
- name: certuser
  user:
    client-certificate: c.crt
    client-key: /abs/c.key
- name: plugin
  user:
    exec:
      command: aws
contexts:
- name: edge
  context: {cluster: edge, user: agent}
- name: other
  context: {cluster: other, user: certuser}
- name: plugin
  context: {cluster: edge, user: plugin}
)";

TEST(KubeTarget, CurrentContextWithTokenAndInlineCa) {
  auto t = parseKubeconfig(kKubeconfig, "/etc/kube", "", "test");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->server.host, "10.0.0.1");
  EXPECT_EQ(t->server.port, 6443);
  EXPECT_EQ(t->tls.ca_pem, "hello");
  EXPECT_EQ(t->token, "abc123");
  EXPECT_EQ(t->server_name, "10.0.0.1");
}

TEST(KubeTarget, NamedContextResolvesRelativeFiles) {
  auto t = parseKubeconfig(kKubeconfig, "/etc/kube", "other", "test");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->server.port, 443);
  EXPECT_EQ(t->tls.ca_file, "/etc/kube/certs/ca.crt");
  EXPECT_EQ(t->tls.cert_file, "/etc/kube/c.crt");
  EXPECT_EQ(t->tls.key_file, "/abs/c.key");
  EXPECT_EQ(t->server_name, "api.internal");
}

TEST(KubeTarget, ClearErrors) {
  auto plugin = parseKubeconfig(kKubeconfig, "/", "plugin", "test");
  ASSERT_FALSE(plugin.ok());
  EXPECT_NE(std::string(plugin.status().message()).find("exec credential plugin"),
            std::string::npos);
  EXPECT_FALSE(parseKubeconfig(kKubeconfig, "/", "missing", "test").ok());
  EXPECT_FALSE(parseKubeconfig("{{{", "/", "", "test").ok());
  EXPECT_FALSE(parseKubeconfig("clusters: []", "/", "", "test").ok());
}

TEST(KubeTarget, InCluster) {
  auto dir = std::filesystem::temp_directory_path() / "kubehub-sa-test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "token") << "sa-token\n";
  auto env = [](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "KUBERNETES_SERVICE_HOST") return "10.96.0.1";
    if (std::string(name) == "KUBERNETES_SERVICE_PORT") return "443";
    return std::nullopt;
  };
  auto t = loadInCluster(env, dir.string());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->server.host, "10.96.0.1");
  TokenSource tokens(*t);
  EXPECT_EQ(tokens.token(), "sa-token");
  auto none = loadInCluster([](const char*) { return std::optional<std::string>(); }, dir.string());
  ASSERT_FALSE(none.ok());
  EXPECT_NE(std::string(none.status().message()).find("--kubeconfig"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kubehub::agent
