// Where an enrolled agent keeps its credentials (agent/enrol/credential_store.h) and the pure
// parts of enrolment and renewal (agent/enrol/credential_manager.h).

#include "agent/enrol/credential_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "agent/enrol/credential_manager.h"
#include "common/auth/csr.h"
#include "common/auth/renewal_proof.h"
#include "metaserver/ca/certificate_authority.h"

namespace kubehub::agent {
namespace {

namespace fs = std::filesystem;

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto rec = metaserver::CertificateAuthority::generate("test-ca", 30);
    ASSERT_TRUE(rec.ok());
    ca_pem_ = rec->cert_pem;
    auto ca = metaserver::CertificateAuthority::load(*rec);
    ASSERT_TRUE(ca.ok());
    ca_ = *ca;
    dir_ = fs::temp_directory_path() /
           ("kubehub-credentials-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    now_ = static_cast<int64_t>(std::time(nullptr));
  }
  void TearDown() override { fs::remove_all(dir_); }

  Credentials issue(const std::string& cn, metaserver::LeafRole role = metaserver::LeafRole::kAgent,
                    int64_t ttl = 3600) {
    auto kc = auth::makeKeyAndCsr(cn);
    EXPECT_TRUE(kc.ok());
    auto cert = ca_->sign({kc->csr_pem, cn, {}, {}, role, ttl});
    EXPECT_TRUE(cert.ok()) << cert.status();
    return {cert->cert_pem, kc->key_pem, ca_pem_};
  }

  std::string ca_pem_;
  std::shared_ptr<metaserver::CertificateAuthority> ca_;
  fs::path dir_;
  int64_t now_ = 0;
};

TEST_F(CredentialsTest, UsableOnlyForTheirClusterWhileInForce) {
  Credentials c = issue("edge-1");
  EXPECT_TRUE(checkCredentials(c, "edge-1", now_).ok());
  auto other = checkCredentials(c, "edge-2", now_);
  EXPECT_FALSE(other.ok());
  EXPECT_NE(other.message().find("cluster \"edge-1\"'s, not \"edge-2\"'s"), std::string::npos)
      << other;
  auto v = auth::certificateValidity(c.cert_pem);
  ASSERT_TRUE(v.ok());
  auto expired = checkCredentials(c, "edge-1", v->not_after);
  EXPECT_NE(expired.message().find("expired"), std::string::npos) << expired;
  Credentials swapped = c;
  swapped.key_pem = issue("edge-1").key_pem;
  EXPECT_NE(checkCredentials(swapped, "edge-1", now_).message().find("key is not"),
            std::string::npos);
  EXPECT_FALSE(checkCredentials(issue("edge-1", metaserver::LeafRole::kHub), "edge-1", now_).ok());
}

TEST_F(CredentialsTest, DirectoryStoreSwapsTheSetAtomicallyWithAPrivateKey) {
  auto store = makeDirectoryStore(dir_.string());
  auto empty = store->load();
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_FALSE(empty->has_value());

  Credentials first = issue("edge-1");
  ASSERT_TRUE(store->save(first).ok());
  auto loaded = store->load();
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_EQ((*loaded)->cert_pem, first.cert_pem);
  EXPECT_EQ((*loaded)->key_pem, first.key_pem);
  EXPECT_EQ((*loaded)->ca_pem, first.ca_pem);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "tls.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_ / "tls.crt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0022, 0u);  // never writable by others
  EXPECT_TRUE(fs::is_symlink(dir_ / "tls.key"));

  // A renewal replaces all three at once and leaves no old copy of the key behind.
  Credentials second = issue("edge-1");
  ASSERT_TRUE(store->save(second).ok());
  loaded = store->load();
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_EQ((*loaded)->cert_pem, second.cert_pem);
  EXPECT_EQ((*loaded)->key_pem, second.key_pem);
  int data_dirs = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with("..data-")) ++data_dirs;
    EXPECT_FALSE(name.starts_with(".tmp-")) << name;
  }
  EXPECT_EQ(data_dirs, 1);
}

TEST_F(CredentialsTest, DirectoryStoreReadsHandWrittenFilesAndSaysWhatIsMissing) {
  fs::create_directories(dir_);
  Credentials c = issue("edge-1");
  std::ofstream(dir_ / "tls.crt") << c.cert_pem;
  auto store = makeDirectoryStore(dir_.string());
  auto half = store->load();
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.status().message().find("has tls.crt but not tls.key"), std::string::npos);
  std::ofstream(dir_ / "tls.key") << c.key_pem;
  auto loaded = store->load();
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_EQ((*loaded)->ca_pem, "");
  // The first save turns the plain files into links into the swapped data directory.
  ASSERT_TRUE(store->save(issue("edge-1")).ok());
  EXPECT_TRUE(fs::is_symlink(dir_ / "tls.crt"));
}

TEST_F(CredentialsTest, RenewalBodyCarriesAProofTheMetaserverVerifies) {
  Credentials c = issue("edge-1");
  auto next = auth::makeKeyAndCsr("edge-1");
  ASSERT_TRUE(next.ok());
  auto body = renewalBody(c, "edge-1", next->csr_pem, now_);
  ASSERT_TRUE(body.ok()) << body.status();
  auto j = nlohmann::json::parse(*body);
  EXPECT_EQ(j["csr"], next->csr_pem);
  EXPECT_EQ(j["certificate"], c.cert_pem);
  EXPECT_EQ(j["time"], now_);
  EXPECT_FALSE(j.contains("key"));  // the key never leaves the agent
  EXPECT_EQ(body->find("PRIVATE KEY"), std::string::npos);
  EXPECT_TRUE(auth::verifyRenewalSignature(c.cert_pem, j["proof"].get<std::string>(), "edge-1",
                                           next->csr_pem, now_)
                  .ok());
  EXPECT_EQ(enrolmentBody("CSR"), R"({"csr":"CSR"})");
}

TEST_F(CredentialsTest, MetaserverAnswersSayWhatToDo) {
  auto ok = parseIssued(201, R"({"certificate":"C","caCert":"CA","serial":"ab"})", false, "edge-1");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->cert_pem, "C");
  EXPECT_EQ(ok->ca_pem, "CA");
  EXPECT_EQ(ok->serial, "ab");
  auto used = parseIssued(
      403, R"({"error":{"code":403,"message":"bootstrap token is unknown, already used"}})", false,
      "edge-1");
  EXPECT_TRUE(absl::IsPermissionDenied(used.status()));
  EXPECT_NE(used.status().message().find("kubehubctl cluster install edge-1"), std::string::npos)
      << used.status();
  EXPECT_NE(used.status().message().find("already used"), std::string::npos);
  EXPECT_TRUE(absl::IsUnavailable(parseIssued(503, "{}", false, "edge-1").status()));
  EXPECT_TRUE(absl::IsUnavailable(parseIssued(429, "{}", true, "edge-1").status()));
  auto unknown = parseIssued(404, "{}", false, "edge-1");
  EXPECT_NE(unknown.status().message().find("kubehubctl cluster create edge-1"), std::string::npos);
  auto refused =
      parseIssued(403, R"({"error":{"message":"the proof is not signed"}})", true, "edge-1");
  EXPECT_TRUE(absl::IsPermissionDenied(refused.status()));
  EXPECT_NE(refused.status().message().find("the proof is not signed"), std::string::npos);
  EXPECT_TRUE(absl::IsUnavailable(parseIssued(201, "not json", false, "edge-1").status()));
}

}  // namespace
}  // namespace kubehub::agent
