#include "hub/api/command_listing.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kubehub::hub {
namespace {

using Json = nlohmann::json;

TEST(CommandListing, KeepsOnlyTheAllowedNames) {
  Json listing = {
      {"kind", "CommandList"},
      {"apiVersion", "kubehub.io/v1"},
      {"items", Json::array({Json{{"name", "disk-usage"}, {"timeoutSeconds", 30}},
                             Json{{"name", "reboot"}}, Json{{"name", 7}}, Json("odd")})}};
  auto cut = filterCommandListing(listing.dump(), {"disk-usage", "not-offered"});
  ASSERT_TRUE(cut.ok()) << cut.status();
  Json j = Json::parse(*cut);
  EXPECT_EQ(j["kind"], "CommandList");
  ASSERT_EQ(j["items"].size(), 1u);
  EXPECT_EQ(j["items"][0], (Json{{"name", "disk-usage"}, {"timeoutSeconds", 30}}));
  auto none = filterCommandListing(listing.dump(), {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(Json::parse(*none)["items"].empty());
}

TEST(CommandListing, RefusesWhatIsNotAList) {
  EXPECT_FALSE(filterCommandListing("", {"a"}).ok());
  EXPECT_FALSE(filterCommandListing("[]", {"a"}).ok());
  EXPECT_FALSE(filterCommandListing(R"({"items":{}})", {"a"}).ok());
  EXPECT_FALSE(filterCommandListing(R"({"kind":"Status"})", {"a"}).ok());
}

}  // namespace
}  // namespace kubehub::hub
