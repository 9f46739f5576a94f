// An agent renews its certificate with a proof signed by its current key: what the metaserver
// accepts and what it refuses (common/auth/renewal_proof.h, metaserver/ca/renewal_check.h).

#include "metaserver/ca/renewal_check.h"

#include <gtest/gtest.h>

#include <ctime>

#include "common/auth/csr.h"
#include "common/auth/renewal_proof.h"
#include "metaserver/ca/certificate_authority.h"

namespace kubehub::metaserver {
namespace {

struct Holder {
  std::string key_pem;
  std::string cert_pem;
};

class RenewalCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto rec = CertificateAuthority::generate("test-ca", 30);
    ASSERT_TRUE(rec.ok());
    ca_pem_ = rec->cert_pem;
    auto ca = CertificateAuthority::load(*rec);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
    now_ = static_cast<int64_t>(std::time(nullptr));
    agent_ = issue(*ca_, "edge-1", LeafRole::kAgent);
    auto next = auth::makeKeyAndCsr("edge-1");
    ASSERT_TRUE(next.ok());
    next_csr_ = next->csr_pem;
  }

  static Holder issue(const CertificateAuthority& ca, const std::string& cn, LeafRole role,
                      int64_t ttl = 3600) {
    auto kc = auth::makeKeyAndCsr(cn);
    EXPECT_TRUE(kc.ok());
    auto cert = ca.sign({kc->csr_pem, cn, {}, {}, role, ttl});
    EXPECT_TRUE(cert.ok()) << cert.status();
    return {kc->key_pem, cert->cert_pem};
  }

  /// A request for `cluster` proven with `signer`'s key over `signed_csr`.
  RenewalRequest request(const Holder& holder, const std::string& cluster, int64_t time,
                         const std::string* signer_key = nullptr) {
    auto proof =
        auth::signRenewal(signer_key ? *signer_key : holder.key_pem, cluster, next_csr_, time);
    EXPECT_TRUE(proof.ok()) << proof.status();
    return {cluster, next_csr_, holder.cert_pem, *proof, time};
  }

  std::string ca_pem_;
  std::shared_ptr<CertificateAuthority> ca_;
  int64_t now_ = 0;
  Holder agent_;
  std::string next_csr_;
};

void expectRefused(const absl::StatusOr<RenewingAgent>& r, const std::string& says) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_NE(r.status().message().find(says), std::string_view::npos) << r.status();
}

TEST_F(RenewalCheckTest, AcceptsAFreshProofByTheCurrentKey) {
  auto r = checkRenewal(request(agent_, "edge-1", now_), ca_pem_, now_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->cluster, "edge-1");
  EXPECT_EQ(r->serial, *auth::certificateSerial(agent_.cert_pem));
  EXPECT_GT(r->not_after, now_);
  // The clocks may disagree by up to five minutes either way.
  EXPECT_TRUE(checkRenewal(request(agent_, "edge-1", now_ - 290), ca_pem_, now_).ok());
  EXPECT_TRUE(checkRenewal(request(agent_, "edge-1", now_ + 290), ca_pem_, now_).ok());
}

TEST_F(RenewalCheckTest, RefusesAnotherClustersCertificate) {
  Holder other = issue(*ca_, "edge-2", LeafRole::kAgent);
  // edge-2's agent, honestly signing, asks for edge-1.
  expectRefused(checkRenewal(request(other, "edge-1", now_), ca_pem_, now_),
                "cluster \"edge-2\"'s, not cluster \"edge-1\"'s");
}

TEST_F(RenewalCheckTest, RefusesAHubCertificate) {
  Holder hub = issue(*ca_, "edge-1", LeafRole::kHub);  // a hub named like the cluster
  expectRefused(checkRenewal(request(hub, "edge-1", now_), ca_pem_, now_),
                "cannot renew an agent's");
}

TEST_F(RenewalCheckTest, RefusesAnExpiredCertificate) {
  auto validity = auth::certificateValidity(agent_.cert_pem);
  ASSERT_TRUE(validity.ok());
  int64_t later = validity->not_after + 60;
  expectRefused(checkRenewal(request(agent_, "edge-1", later), ca_pem_, later),
                "kubehubctl cluster install edge-1");
  expectRefused(checkRenewal(request(agent_, "edge-1", later), ca_pem_, later), "expired");
}

TEST_F(RenewalCheckTest, RefusesAProofByAnotherKey) {
  auto stranger = auth::makeKeyAndCsr("edge-1");
  ASSERT_TRUE(stranger.ok());
  // Someone who copied the certificate (it is not secret) but not the key.
  expectRefused(checkRenewal(request(agent_, "edge-1", now_, &stranger->key_pem), ca_pem_, now_),
                "not signed by the current certificate's key");
}

TEST_F(RenewalCheckTest, RefusesAStaleOrFutureTime) {
  expectRefused(checkRenewal(request(agent_, "edge-1", now_ - 301), ca_pem_, now_),
                "away from the metaserver's clock");
  expectRefused(checkRenewal(request(agent_, "edge-1", now_ + 3600), ca_pem_, now_),
                "away from the metaserver's clock");
  // A replayed request may not move its time: the signature covers it.
  RenewalRequest rq = request(agent_, "edge-1", now_ - 1000);
  rq.time = now_;
  expectRefused(checkRenewal(rq, ca_pem_, now_), "not signed by the current certificate's key");
}

TEST_F(RenewalCheckTest, RefusesATamperedCsr) {
  RenewalRequest rq = request(agent_, "edge-1", now_);
  auto swapped = auth::makeKeyAndCsr("edge-1");
  ASSERT_TRUE(swapped.ok());
  rq.csr_pem = swapped->csr_pem;  // an attacker's key under the agent's proof
  expectRefused(checkRenewal(rq, ca_pem_, now_), "not signed by the current certificate's key");
  RenewalRequest edited = request(agent_, "edge-1", now_);
  edited.csr_pem += "\n";
  expectRefused(checkRenewal(edited, ca_pem_, now_), "not signed");
}

TEST_F(RenewalCheckTest, RefusesACertificateOfAnotherCa) {
  auto rec = CertificateAuthority::generate("other-ca", 30);
  ASSERT_TRUE(rec.ok());
  auto other_ca = CertificateAuthority::load(*rec);
  ASSERT_TRUE(other_ca.ok());
  Holder foreign = issue(**other_ca, "edge-1", LeafRole::kAgent);
  expectRefused(checkRenewal(request(foreign, "edge-1", now_), ca_pem_, now_),
                "not issued by this metaserver's tunnel CA");
}

TEST_F(RenewalCheckTest, RefusesGarbage) {
  RenewalRequest rq = request(agent_, "edge-1", now_);
  rq.certificate_pem = "not a certificate";
  expectRefused(checkRenewal(rq, ca_pem_, now_), "not a PEM certificate");
  RenewalRequest bad_proof = request(agent_, "edge-1", now_);
  bad_proof.proof = "!!!";
  expectRefused(checkRenewal(bad_proof, ca_pem_, now_), "not base64");
}

TEST(LeafBackdate, AtMostATenthOfTheLifetime) {
  EXPECT_EQ(leafBackdateSeconds(30), 3);
  EXPECT_EQ(leafBackdateSeconds(3600), 300);
  EXPECT_EQ(leafBackdateSeconds(365 * 86400), 300);
  // Renewal of a 30 s certificate falls about 20 s after it was issued, not before.
  auto kc = auth::makeKeyAndCsr("edge-1");
  ASSERT_TRUE(kc.ok());
  auto rec = CertificateAuthority::generate("test-ca", 30);
  auto ca = CertificateAuthority::load(*rec);
  ASSERT_TRUE(ca.ok());
  int64_t issued = static_cast<int64_t>(std::time(nullptr));
  auto cert = (*ca)->sign({kc->csr_pem, "edge-1", {}, {}, LeafRole::kAgent, 30});
  ASSERT_TRUE(cert.ok());
  auto v = auth::certificateValidity(cert->cert_pem);
  ASSERT_TRUE(v.ok());
  int64_t renew_in = auth::renewalTime(*v) - issued;
  EXPECT_GE(renew_in, 17);
  EXPECT_LE(renew_in, 20);
}

}  // namespace
}  // namespace kubehub::metaserver
