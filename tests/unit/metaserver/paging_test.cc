#include "metaserver/api/paging.h"

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"

namespace kubehub::metaserver {
namespace {

TEST(Paging, NoLimitAndNoTokenListsEverything) {
  auto page = parsePage(std::nullopt, std::nullopt, "users", 1);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->limit, 0);
  EXPECT_TRUE(page->after.empty());
  // An empty continue is the first page, as in Kubernetes.
  EXPECT_TRUE(parsePage(std::string("5"), std::string(""), "users", 1)->after.empty());
}

TEST(Paging, LimitMustBeAPositiveIntegerWithinTheBound) {
  EXPECT_EQ(parsePage(std::string("1"), std::nullopt, "users", 1)->limit, 1);
  EXPECT_EQ(parsePage(std::string("10000"), std::nullopt, "users", 1)->limit, 10000);
  for (const char* bad : {"0", "-1", "10001", "x", "", "1.5", "99999999999999999999"}) {
    auto page = parsePage(std::string(bad), std::nullopt, "users", 1);
    ASSERT_FALSE(page.ok()) << bad;
    EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(page.status().message().find("limit"), std::string_view::npos);
  }
}

TEST(Paging, TheTokenCarriesTheKeyBackExactly) {
  std::vector<std::string> key = {"2026-12-02 10:00:00.123456+00", "tok-7f3a"};
  std::string token = continueToken("tokens", key);
  auto page = parsePage(std::string("2"), token, "tokens", 2);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->after, key);
  EXPECT_EQ(page->limit, 2);
  // URL-safe as it is: no '+', '/' or '='-free requirement beyond what a query carries.
  EXPECT_EQ(token.find_first_of("+/ &?#"), std::string::npos) << token;
}

TEST(Paging, RefusesATokenOfAnotherListOrMalformed) {
  std::string users = continueToken("users", {"alice"});
  auto wrong_list = parsePage(std::nullopt, users, "clusters", 1);
  ASSERT_FALSE(wrong_list.ok());
  EXPECT_NE(wrong_list.status().message().find("continue"), std::string_view::npos);
  // Same list, wrong key width (a token of an older layout).
  EXPECT_FALSE(parsePage(std::nullopt, users, "users", 2).ok());
  for (std::string bad : {std::string("not base64 !"), absl::WebSafeBase64Escape("{}"),
                          absl::WebSafeBase64Escape("[\"users\"]"),
                          absl::WebSafeBase64Escape(R"({"list":"users","after":[1]})"),
                          absl::WebSafeBase64Escape(R"({"list":"users","after":[""]})"),
                          absl::WebSafeBase64Escape(R"({"list":"users","after":"alice"})"),
                          absl::WebSafeBase64Escape("not json"), std::string(5000, 'A')}) {
    auto page = parsePage(std::nullopt, bad, "users", 1);
    EXPECT_FALSE(page.ok()) << bad;
  }
}

TEST(Paging, AnswersCarryTheTokenOnlyWhenMoreFollow) {
  auto last = pagedItems(nlohmann::json::array({1, 2}), "users", {});
  EXPECT_EQ(last, (nlohmann::json{{"items", {1, 2}}}));
  auto more = pagedItems(nlohmann::json::array({1}), "users", {"bob"});
  ASSERT_TRUE(more.contains("metadata"));
  auto next = parsePage(std::nullopt, more["metadata"]["continue"].get<std::string>(), "users", 1);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->after, std::vector<std::string>{"bob"});
}

}  // namespace
}  // namespace kubehub::metaserver
