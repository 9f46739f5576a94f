#include "metaserver/ca/certificate_authority.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/auth/tunnel_identity.h"

namespace kubehub::metaserver {
namespace {

/// A PEM CSR for a fresh key of `algorithm` ("EC" P-256 or "RSA" with `bits`).
std::string makeCsr(const std::string& cn, const char* algorithm = "EC", size_t bits = 2048,
                    const std::string& organization = "") {
  EVP_PKEY* key = std::string(algorithm) == "RSA"
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits)
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_pubkey(req, key);
  if (!organization.empty()) {
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(organization.c_str()), -1, -1,
                               0);
  }
  if (!cn.empty()) {
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  }
  X509_REQ_sign(req, key, EVP_sha256());
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(b, req);
  char* data = nullptr;
  long len = BIO_get_mem_data(b, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(b);
  X509_REQ_free(req);
  EVP_PKEY_free(key);
  return pem;
}

X509* parseCert(const std::string& pem) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* c = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  return c;
}

class CaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto rec = CertificateAuthority::generate("test-ca", 30);
    ASSERT_TRUE(rec.ok());
    record_ = *rec;
    auto ca = CertificateAuthority::load(record_);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
  }
  bool verifies(const std::string& cert_pem, int purpose) {
    X509* ca = parseCert(record_.cert_pem);
    X509* leaf = parseCert(cert_pem);
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, ca);
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, leaf, nullptr);
    X509_STORE_CTX_set_purpose(ctx, purpose);
    bool ok = X509_verify_cert(ctx) == 1;
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(leaf);
    X509_free(ca);
    return ok;
  }
  CaRecord record_;
  std::shared_ptr<CertificateAuthority> ca_;
};

TEST_F(CaTest, SignsAgentCsrWithClusterCn) {
  LeafRequest rq{makeCsr("edge-1"), "edge-1", {}, {}, LeafRole::kAgent, 3600};
  auto cert = ca_->sign(rq);
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_TRUE(verifies(cert->cert_pem, X509_PURPOSE_SSL_CLIENT));
  EXPECT_FALSE(verifies(cert->cert_pem, X509_PURPOSE_SSL_SERVER));
  X509* leaf = parseCert(cert->cert_pem);
  char cn[128] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn));
  EXPECT_STREQ(cn, "edge-1");
  X509_free(leaf);
  EXPECT_EQ(cert->serial.size(), 32u);
  // An empty CN in the CSR is filled in.
  EXPECT_TRUE(ca_->sign({makeCsr(""), "edge-2", {}, {}, LeafRole::kAgent, 3600}).ok());
}

TEST_F(CaTest, SignsHubServingCertificateWithSans) {
  LeafRequest rq{makeCsr("hub-1"),     "hub-1",        {"hub-1.example.com", "localhost"},
                 {"127.0.0.1", "::1"}, LeafRole::kHub, 3600};
  auto cert = ca_->sign(rq);
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_TRUE(verifies(cert->cert_pem, X509_PURPOSE_SSL_SERVER));
  X509* leaf = parseCert(cert->cert_pem);
  EXPECT_EQ(X509_check_host(leaf, "hub-1.example.com", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf, "127.0.0.1", 0), 1);
  X509_free(leaf);
}

TEST_F(CaTest, RejectsBadCsrs) {
  auto cn = ca_->sign({makeCsr("other-cluster"), "edge-1", {}, {}, LeafRole::kAgent, 3600});
  ASSERT_FALSE(cn.ok());
  EXPECT_NE(cn.status().message().find("does not match"), absl::string_view::npos);
  EXPECT_FALSE(ca_->sign({"garbage", "edge-1", {}, {}, LeafRole::kAgent, 3600}).ok());
  EXPECT_FALSE(ca_->sign({"", "edge-1", {}, {}, LeafRole::kAgent, 3600}).ok());
  auto weak = ca_->sign({makeCsr("edge-1", "RSA", 1024), "edge-1", {}, {}, LeafRole::kAgent, 3600});
  ASSERT_FALSE(weak.ok());
  EXPECT_NE(weak.status().message().find("2048"), absl::string_view::npos);
  EXPECT_FALSE(ca_->sign({makeCsr("hub"), "hub", {"bad name!"}, {}, LeafRole::kHub, 3600}).ok());
  EXPECT_FALSE(ca_->sign({makeCsr("hub"), "hub", {}, {"300.1.1.1"}, LeafRole::kHub, 3600}).ok());
  // A CSR whose signature does not match its key: swap the public key of another CSR in.
  std::string a = makeCsr("edge-1");
  std::string tampered = a;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(ca_->sign({tampered, "edge-1", {}, {}, LeafRole::kAgent, 3600}).ok());
}

// The attack: a hub-role token asked for /hubs/edge-3/certificate and the hub accepted the
// result as edge-3's agent. The CA must mark the two kinds apart, and the hub's check must
// accept only the agent's.
TEST_F(CaTest, AgentAndHubCertificatesAreDistinguishable) {
  auto agent = ca_->sign({makeCsr("edge-3"), "edge-3", {}, {}, LeafRole::kAgent, 3600});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto agent_id = auth::certificateIdentityFromPem(agent->cert_pem);
  ASSERT_TRUE(agent_id.ok()) << agent_id.status();
  EXPECT_EQ(agent_id->organizations, std::vector<std::string>{"kubehub:agents"});
  EXPECT_TRUE(agent_id->client_auth);
  EXPECT_FALSE(agent_id->server_auth);
  auto cluster = auth::agentClusterOf(*agent_id);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_EQ(*cluster, "edge-3");

  // The same name issued as a hub (the CSR even asks to be an agent): refused as an agent.
  auto hub = ca_->sign(
      {makeCsr("edge-3", "EC", 2048, "kubehub:agents"), "edge-3", {}, {}, LeafRole::kHub, 3600});
  ASSERT_TRUE(hub.ok()) << hub.status();
  EXPECT_TRUE(verifies(hub->cert_pem, X509_PURPOSE_SSL_SERVER));
  auto hub_id = auth::certificateIdentityFromPem(hub->cert_pem);
  ASSERT_TRUE(hub_id.ok()) << hub_id.status();
  EXPECT_EQ(hub_id->common_name, "edge-3");
  EXPECT_EQ(hub_id->organizations, std::vector<std::string>{"kubehub:hubs"});
  EXPECT_TRUE(hub_id->server_auth);
  auto refused = auth::agentClusterOf(*hub_id);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(refused.status().message().find("hub's certificate"), absl::string_view::npos)
      << refused.status();
  // Agents read the hub's id off the certificate it serves with (one tunnel per hub).
  EXPECT_EQ(auth::hubIdOf(*hub_id), "edge-3");
  EXPECT_EQ(auth::hubIdOf(*agent_id), std::nullopt);
}

TEST(HubIdentityTest, OnlyACertificateMarkedAsAHubsNamesAHub) {
  using auth::CertificateIdentity;
  using auth::hubIdOf;
  EXPECT_EQ(hubIdOf(CertificateIdentity{"hub-1", {"kubehub:hubs"}, true, true}), "hub-1");
  // A serving certificate of anyone else (a load balancer's): its CN is no hub id.
  EXPECT_EQ(hubIdOf(CertificateIdentity{"hubs.example.com", {}, false, true}), std::nullopt);
  EXPECT_EQ(hubIdOf(CertificateIdentity{"hub-1", {"kubehub:hubs"}, true, false}), std::nullopt);
  EXPECT_EQ(hubIdOf(CertificateIdentity{"", {"kubehub:hubs"}, true, true}), std::nullopt);
}

TEST(HubIdentityTest, APeerLinkTakesOnlyAHubsClientCertificate) {
  using auth::CertificateIdentity;
  using auth::peerHubOf;
  EXPECT_EQ(peerHubOf(CertificateIdentity{"hub-1", {"kubehub:hubs"}, true, true}), "hub-1");
  // An agent's certificate, one marked as both, a serving-only one, one naming no hub.
  EXPECT_EQ(peerHubOf(CertificateIdentity{"edge-1", {"kubehub:agents"}, true, false}),
            std::nullopt);
  EXPECT_EQ(peerHubOf(CertificateIdentity{"hub-1", {"kubehub:agents", "kubehub:hubs"}, true, true}),
            std::nullopt);
  EXPECT_EQ(peerHubOf(CertificateIdentity{"hub-1", {"kubehub:hubs"}, false, true}), std::nullopt);
  EXPECT_EQ(peerHubOf(CertificateIdentity{"", {"kubehub:hubs"}, true, true}), std::nullopt);
  EXPECT_EQ(peerHubOf(CertificateIdentity{"hub-1", {}, true, true}), std::nullopt);
}

TEST(AgentIdentityTest, RefusesCertificatesNotMarkedAsAnAgents) {
  using auth::agentClusterOf;
  using auth::CertificateIdentity;
  // CN alone (what this CA issued to everyone before the roles were marked).
  EXPECT_FALSE(agentClusterOf(CertificateIdentity{"edge-1", {}, true, false}).ok());
  // The agent marker, but the certificate could also serve TLS, or is not for clients.
  EXPECT_FALSE(agentClusterOf(CertificateIdentity{"edge-1", {"kubehub:agents"}, true, true}).ok());
  EXPECT_FALSE(
      agentClusterOf(CertificateIdentity{"edge-1", {"kubehub:agents"}, false, false}).ok());
  // Both markers: a hub's.
  EXPECT_FALSE(
      agentClusterOf(CertificateIdentity{"edge-1", {"kubehub:agents", "kubehub:hubs"}, true, false})
          .ok());
  EXPECT_FALSE(agentClusterOf(CertificateIdentity{"", {"kubehub:agents"}, true, false}).ok());
  auto ok = agentClusterOf(CertificateIdentity{"edge-1", {"kubehub:agents"}, true, false});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, "edge-1");
  EXPECT_FALSE(auth::certificateIdentityFromPem("not a certificate").ok());
}

TEST_F(CaTest, LoadRejectsMismatchedKeyAndNonCa) {
  auto other = CertificateAuthority::generate("other", 1);
  EXPECT_FALSE(CertificateAuthority::load({record_.cert_pem, other->key_pem}).ok());
  EXPECT_FALSE(CertificateAuthority::load({"x", record_.key_pem}).ok());
}

}  // namespace
}  // namespace kubehub::metaserver
