// TlsSource: a rotated certificate is picked up for new connections, a half-written rotation
// keeps the old one, and the renewal schedule of enrolled certificates.

#include "common/net/tls_source.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "common/auth/csr.h"
#include "common/config/secret_file.h"
#include "common/net/tls.h"

namespace kubehub {
namespace {

namespace fs = std::filesystem;

/// A self-signed certificate for `key_pem`, valid for `days`.
std::string selfSign(const std::string& key_pem, const std::string& cn, int days) {
  BIO* kb = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  BIO_free(kb);
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(days) * 86400);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  X509_sign(cert, key, EVP_sha256());
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(out, cert);
  char* data = nullptr;
  long len = BIO_get_mem_data(out, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(out);
  X509_free(cert);
  EVP_PKEY_free(key);
  return pem;
}

void writeFile(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }

class TlsSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kubehub-tls-source-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    cert_ = dir_ / "tls.crt";
    key_ = dir_ / "tls.key";
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// Writes a fresh key and a certificate valid for `days`; returns the certificate.
  std::string rotate(int days) {
    auto kc = auth::makeKeyAndCsr("server");
    EXPECT_TRUE(kc.ok());
    std::string cert = selfSign(kc->key_pem, "server", days);
    writeFile(cert_, cert);
    writeFile(key_, kc->key_pem);
    return cert;
  }

  absl::StatusOr<std::shared_ptr<net::TlsSource>> source() {
    std::string c = cert_.string(), k = key_.string();
    return net::TlsSource::fromFiles("test", {c, k}, [c, k] {
      return net::makeServerContext({c, k, ""});
    });
  }

  fs::path dir_, cert_, key_;
};

TEST_F(TlsSourceTest, RotatedFilesReplaceTheContextForNewConnectionsOnly) {
  std::string first = rotate(10);
  auto src = source();
  ASSERT_TRUE(src.ok()) << src.status();
  auto held = (*src)->current();  // an open connection's context
  ASSERT_NE(held, nullptr);
  EXPECT_EQ((*src)->generation(), 1u);
  auto v1 = auth::certificateValidity(first);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ((*src)->notAfter(), v1->not_after);

  auto unchanged = (*src)->reloadIfChanged();
  ASSERT_TRUE(unchanged.ok());
  EXPECT_FALSE(*unchanged);
  EXPECT_EQ((*src)->current(), held);

  std::string second = rotate(20);
  auto changed = (*src)->reloadIfChanged();
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  EXPECT_EQ((*src)->generation(), 2u);
  EXPECT_NE((*src)->current(), held);
  auto v2 = auth::certificateValidity(second);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ((*src)->notAfter(), v2->not_after);
  // The old context is still whole for whoever holds it.
  EXPECT_NE(SSL_CTX_get0_certificate(held->native_handle()), nullptr);
}

TEST_F(TlsSourceTest, AHalfWrittenRotationKeepsTheCertificateInForce) {
  rotate(10);
  auto src = source();
  ASSERT_TRUE(src.ok());
  auto before = (*src)->current();
  // A new certificate whose key has not been written yet.
  auto other = auth::makeKeyAndCsr("server");
  ASSERT_TRUE(other.ok());
  writeFile(cert_, selfSign(other->key_pem, "server", 30));
  auto r = (*src)->reloadIfChanged();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ((*src)->current(), before);
  EXPECT_EQ((*src)->generation(), 1u);
  // The same broken contents are not rebuilt (nor reported) again...
  auto again = (*src)->reloadIfChanged();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  // ...and once the key arrives the pair is taken.
  writeFile(key_, other->key_pem);
  auto done = (*src)->reloadIfChanged();
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_TRUE(*done);
  EXPECT_NE((*src)->current(), before);
}

TEST_F(TlsSourceTest, ReloaderPollsAndReports) {
  rotate(10);
  auto src = source();
  ASSERT_TRUE(src.ok());
  std::atomic<int> ok{0}, failed{0};
  net::TlsReloader reloader({*src}, std::chrono::milliseconds(0),
                            [&](const net::TlsSource&, bool good) { (good ? ok : failed)++; });
  reloader.pollOnce();
  EXPECT_EQ(ok.load(), 0);
  rotate(11);
  reloader.pollOnce();
  EXPECT_EQ(ok.load(), 1);
  writeFile(key_, "not a key");
  reloader.pollOnce();
  reloader.pollOnce();
  EXPECT_EQ(failed.load(), 1);
  EXPECT_EQ((*src)->generation(), 2u);
}

TEST_F(TlsSourceTest, MissingFilesAreAStartUpError) {
  auto src = source();
  EXPECT_FALSE(src.ok());
}

TEST(Csr, KeyStaysWithTheCallerAndMatchesTheCertificateSignedForIt) {
  auto kc = auth::makeKeyAndCsr("edge-1");
  ASSERT_TRUE(kc.ok()) << kc.status();
  EXPECT_NE(kc->csr_pem.find("BEGIN CERTIFICATE REQUEST"), std::string::npos);
  EXPECT_NE(kc->key_pem.find("BEGIN PRIVATE KEY"), std::string::npos);
  std::string cert = selfSign(kc->key_pem, "edge-1", 3);
  EXPECT_TRUE(auth::keyMatchesCertificate(cert, kc->key_pem));
  auto other = auth::makeKeyAndCsr("edge-1");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(auth::keyMatchesCertificate(cert, other->key_pem));
  EXPECT_FALSE(auth::makeKeyAndCsr("").ok());
}

TEST(Csr, RenewalIsTwoThirdsIntoTheLifetime) {
  EXPECT_EQ(auth::renewalTime({1000, 4000}), 3000);
  // A backdated notBefore (issued at 1300, valid from 1000): two thirds of what is left.
  EXPECT_EQ(auth::renewalTime({1000, 1330}, 1300), 1320);
  EXPECT_EQ(auth::renewalTime({1000, 4000}, 500), 3000);
  EXPECT_EQ(auth::renewalTime({1000, 4000}, 9000), 4000);
  auto kc = auth::makeKeyAndCsr("x");
  ASSERT_TRUE(kc.ok());
  auto v = auth::certificateValidity(selfSign(kc->key_pem, "x", 3));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->not_after - v->not_before, 3 * 86400);
  EXPECT_FALSE(auth::certificateValidity("garbage").ok());
}

}  // namespace
}  // namespace kubehub

namespace kubehub {
namespace {

TEST(SecretFile, ARotatedTokenIsReadAgainAndABrokenOneKeepsTheOld) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("kubehub-secret-file-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path token = dir / "token";
  std::ofstream(token) << "first \r\n";
  auto f = config::SecretFile::open(token.string(), "--metaserver-token-file");
  ASSERT_TRUE(f.ok()) << f.status();
  (*f)->recheck = std::chrono::milliseconds(0);
  EXPECT_EQ((*f)->value(), "first");
  // An atomic update (rename over the file, as a Secret volume's link swap does).
  std::ofstream(dir / "token.new") << "second\n";
  fs::rename(dir / "token.new", token);
  EXPECT_EQ((*f)->value(), "second");
  EXPECT_EQ((*f)->changes(), 1);
  std::ofstream(dir / "token.new") << "\n";
  fs::rename(dir / "token.new", token);
  EXPECT_EQ((*f)->value(), "second");
  fs::remove(token);
  EXPECT_EQ((*f)->value(), "second");
  EXPECT_FALSE(config::SecretFile::open(token.string(), "--x").ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kubehub
