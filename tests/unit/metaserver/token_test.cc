#include "common/auth/token.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"

namespace kubehub::auth {
namespace {

TokenClaims sampleClaims(int64_t now) {
  TokenClaims c;
  c.issuer = "kubehub-metaserver";
  c.subject = "alice";
  c.tenant = "acme";
  c.groups = {"devs", "ops"};
  c.id = "tok-1";
  c.issued_at = now;
  c.expires_at = now + 3600;
  return c;
}

std::string b64(std::string_view s) {
  return absl::WebSafeBase64Escape(absl::string_view(s.data(), s.size()));
}

std::vector<std::string> parts(const std::string& token) {
  size_t a = token.find('.');
  size_t b = token.find('.', a + 1);
  return {token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
}

TEST(Token, SignAndVerifyRoundTrip) {
  auto key = Ed25519Key::generate();
  ASSERT_TRUE(key.ok());
  auto token = signToken(sampleClaims(1000), *key, "k1");
  ASSERT_TRUE(token.ok());
  auto claims = verifyToken(*token, *key, 1001);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(claims->tenant, "acme");
  EXPECT_EQ(claims->groups, (std::vector<std::string>{"devs", "ops"}));
  EXPECT_EQ(claims->id, "tok-1");
  EXPECT_EQ(claims->expires_at, 4600);
  EXPECT_EQ(*peekKeyId(*token), "k1");
  // The header is what the README documents.
  std::string header;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(parts(*token)[0], &header));
  auto h = nlohmann::json::parse(header);
  EXPECT_EQ(h["alg"], "EdDSA");
  EXPECT_EQ(h["typ"], "JWT");
  EXPECT_EQ(h["kid"], "k1");
}

TEST(Token, ExpiryIsEnforcedWithLeeway) {
  auto key = Ed25519Key::generate();
  auto token = signToken(sampleClaims(1000), *key, "k1");
  EXPECT_TRUE(verifyToken(*token, *key, 4599).ok());
  auto expired = verifyToken(*token, *key, 4600);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(expired.status().message().find("expired"), absl::string_view::npos);
  EXPECT_TRUE(verifyToken(*token, *key, 4605, 10).ok());
}

TEST(Token, TamperedClaimsAreRejected) {
  auto key = Ed25519Key::generate();
  auto token = signToken(sampleClaims(1000), *key, "k1");
  auto p = parts(*token);
  std::string claims;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(p[1], &claims));
  auto j = nlohmann::json::parse(claims);
  j["tenant"] = "other";
  std::string forged = p[0] + "." + b64(j.dump()) + "." + p[2];
  auto r = verifyToken(forged, *key, 1001);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("signature"), absl::string_view::npos);
  // A flipped signature character too (in the middle: every bit of it counts).
  std::string sig = *token;
  size_t mid = sig.size() - 40;
  sig[mid] = sig[mid] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verifyToken(sig, *key, 1001).ok());
  // The last character of an 86-character signature carries 2 bits; a spelling with other
  // unused bits decodes to the same bytes but is not the token that was issued.
  std::string respelled = *token;
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t v = alphabet.find(respelled.back());
  respelled.back() = alphabet[(v & ~size_t{15}) | ((v + 1) & 15)];
  ASSERT_NE(respelled, *token);
  EXPECT_FALSE(verifyToken(respelled, *key, 1001).ok());
}

TEST(Token, OtherKeysAndAlgorithmsAreRejected) {
  auto key = Ed25519Key::generate();
  auto other = Ed25519Key::generate();
  auto token = signToken(sampleClaims(1000), *key, "k1");
  EXPECT_FALSE(verifyToken(*token, *other, 1001).ok());
  // alg "none" with an empty signature: the classic JWT confusion.
  auto p = parts(*token);
  std::string none = b64(R"({"alg":"none","kid":"k1"})") + "." + p[1] + ".";
  auto r = verifyToken(none, *key, 1001);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("EdDSA"), absl::string_view::npos);
  std::string hs = b64(R"({"alg":"HS256","kid":"k1"})") + "." + p[1] + "." + p[2];
  EXPECT_FALSE(verifyToken(hs, *key, 1001).ok());
}

TEST(Token, MalformedTokensAreRejected) {
  auto key = Ed25519Key::generate();
  for (const std::string& bad :
       std::vector<std::string>{"", "abc", "a.b", "a.b.c.d", "!!.??.**",
                                "eyJhbGciOiJFZERTQSJ9.e30.", std::string(9000, 'a')}) {
    auto r = verifyToken(bad, *key, 0);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << bad;
  }
  EXPECT_FALSE(peekKeyId("x.y.z").ok());
}

TEST(Token, KeySetPicksTheKeyByKidAndRoundTripsThroughJwks) {
  auto k1 = Ed25519Key::generate();
  auto k2 = Ed25519Key::generate();
  KeySet set;
  set.add("k1", *k1);
  set.add("k2", *k2);
  auto t2 = signToken(sampleClaims(1000), *k2, "k2");
  EXPECT_TRUE(verifyToken(*t2, set, 1001).ok());
  auto t3 = signToken(sampleClaims(1000), *k2, "k3");
  auto unknown = verifyToken(*t3, set, 1001);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown key"), absl::string_view::npos);
  // A verifier built only from the published JWK set (what a hub does) accepts the token.
  auto published = KeySet::fromJwks(set.toJwks());
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->size(), 2u);
  EXPECT_FALSE(published->find("k1")->hasPrivate());
  EXPECT_TRUE(verifyToken(*t2, *published, 1001).ok());
  EXPECT_FALSE(KeySet::fromJwks(nlohmann::json::array()).ok());
}

TEST(Token, PemRoundTrip) {
  auto key = Ed25519Key::generate();
  auto priv = Ed25519Key::fromPrivatePem(key->privatePem());
  ASSERT_TRUE(priv.ok());
  auto pub = Ed25519Key::fromPublicPem(key->publicPem());
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub->rawPublic(), key->rawPublic());
  auto token = signToken(sampleClaims(1000), *priv, "k");
  EXPECT_TRUE(verifyToken(*token, *pub, 1001).ok());
  EXPECT_FALSE(pub->sign("x").ok());
  EXPECT_FALSE(Ed25519Key::fromPrivatePem("not pem").ok());
}

TEST(Token, Helpers) {
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(constantTimeEquals("secret", "secret"));
  EXPECT_FALSE(constantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(constantTimeEquals("secret", "secret2"));
  auto a = randomToken(32);
  EXPECT_EQ(a.size(), 43u);
  EXPECT_NE(a, randomToken(32));
}

}  // namespace
}  // namespace kubehub::auth
