#include "hub/auth/token_file.h"

#include <gtest/gtest.h>

namespace kubehub::hub {
namespace {

TEST(TokenFile, ParsesKubeApiserverFormat) {
  auto auth = StaticTokenAuthenticator::parse(
      "# comment\n"
      "token-aaaa-1111,alice,u1,\"devs,ops\"\r\n"
      "token-bbbb-2222,bob,u2\n"
      "\n");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->size(), 2u);
  auto alice = auth->authenticate("token-aaaa-1111");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->groups, (std::vector<std::string>{"devs", "ops"}));
  EXPECT_TRUE(auth->authenticate("token-bbbb-2222").has_value());
  EXPECT_FALSE(auth->authenticate("token-bbbb-2223").has_value());
  EXPECT_FALSE(auth->authenticate("").has_value());
}

TEST(TokenFile, ErrorsNameTheLine) {
  auto dup = StaticTokenAuthenticator::parse("tok-12345678,a,1\ntok-12345678,b,2\n");
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(std::string(dup.status().message()).find("line 2"), std::string::npos);
  EXPECT_FALSE(StaticTokenAuthenticator::parse("short,a,1\n").ok());
  EXPECT_FALSE(StaticTokenAuthenticator::parse("tok-12345678,a\n").ok());
  EXPECT_FALSE(StaticTokenAuthenticator::parse("tok-12345678,\"a,1\n").ok());
  EXPECT_FALSE(StaticTokenAuthenticator::loadFile("/nonexistent/tokens.csv").ok());
}

TEST(TokenFile, BearerHeader) {
  EXPECT_EQ(bearerToken("Bearer abc").value(), "abc");
  EXPECT_EQ(bearerToken("bearer   abc  ").value(), "abc");
  EXPECT_FALSE(bearerToken("Basic abc").has_value());
  EXPECT_FALSE(bearerToken("Bearer ").has_value());
  EXPECT_FALSE(bearerToken("").has_value());
}

}  // namespace
}  // namespace kubehub::hub
