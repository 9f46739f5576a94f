// Private keys at rest: sealed under the first envelope key, opened by any, bound to their row.
#include "metaserver/store/secret_box.h"

#include <gtest/gtest.h>

namespace kubehub::metaserver {
namespace {

// 32 bytes each, base64.
constexpr const char* kKeyA = "a1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr const char* kKeyB = "b2:HxwdHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";
const std::string kPem =
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";

std::shared_ptr<const SecretBox> box(const std::string& text) {
  auto b = SecretBox::fromKeys(text);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *b : nullptr;
}

TEST(SecretBox, SealsUnderTheFirstKeyAndOpensWithAny) {
  auto a = box(std::string("# envelope keys\n") + kKeyA + "\n");
  auto sealed = a->seal(kPem, "signing_keys/k1");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->find("PRIVATE KEY"), std::string::npos);
  EXPECT_TRUE(sealed->starts_with("kh-sealed:v1:a1:"));
  EXPECT_TRUE(a->sealedWithPrimary(*sealed));
  auto opened = a->open(*sealed, "signing_keys/k1");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, kPem);
  // Two seals of the same value differ (fresh nonce).
  EXPECT_NE(*a->seal(kPem, "signing_keys/k1"), *sealed);

  // Rotation: b first, a still opens; a value sealed by a is not "done" under b.
  auto ba = box(std::string(kKeyB) + "\n" + kKeyA + "\n");
  EXPECT_EQ(ba->primaryKeyId(), "b2");
  EXPECT_FALSE(ba->sealedWithPrimary(*sealed));
  auto again = ba->open(*sealed, "signing_keys/k1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, kPem);
}

TEST(SecretBox, RefusesWhatWasTamperedMovedOrSealedUnderAnUnknownKey) {
  auto a = box(kKeyA);
  std::string sealed = *a->seal(kPem, "signing_keys/k1");
  EXPECT_EQ(a->open(sealed, "signing_keys/k2").status().code(), absl::StatusCode::kDataLoss);
  std::string flipped = sealed;
  flipped[flipped.size() - 6] = flipped[flipped.size() - 6] == 'A' ? 'B' : 'A';
  EXPECT_EQ(a->open(flipped, "signing_keys/k1").status().code(), absl::StatusCode::kDataLoss);
  auto b = box(kKeyB);
  auto unknown = b->open(sealed, "signing_keys/k1");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(unknown.status().message().find("\"a1\""), std::string_view::npos);
  auto none = SecretBox::plaintext()->open(sealed, "signing_keys/k1");
  EXPECT_NE(none.status().message().find("no key file"), std::string_view::npos);
}

TEST(SecretBox, ValuesStoredBeforeEncryptionOpenAsTheyAre) {
  auto a = box(kKeyA);
  auto opened = a->open(kPem, "certificate_authority/1");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, kPem);
  EXPECT_FALSE(a->sealedWithPrimary(kPem));
  auto plain = SecretBox::plaintext();
  EXPECT_FALSE(plain->encrypts());
  EXPECT_EQ(*plain->seal(kPem, "x"), kPem);
  EXPECT_TRUE(plain->sealedWithPrimary(kPem));
}

TEST(SecretBox, KeyFileErrorsNameTheLine) {
  for (auto [text, words] : std::initializer_list<std::pair<std::string, std::string>>{
           {"", "holds no key"},
           {"nocolon\n", "line 1: expected ID:BASE64"},
           {std::string(kKeyA) + "\na1:HxwdHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=\n",
            "line 2: key id \"a1\" appears twice"},
           {"short:AAEC\n", "is not 32 bytes"},
           {"bad id:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", "a key id has"},
       }) {
    auto b = SecretBox::fromKeys(text);
    ASSERT_FALSE(b.ok()) << text;
    EXPECT_NE(b.status().message().find(words), std::string_view::npos) << b.status().message();
  }
}

}  // namespace
}  // namespace kubehub::metaserver
