// The hub checks, from the metaserver's whoami answer, that its token's user is its --hub-id:
// the metaserver takes a hub's registry reports only for the hub named like its user.
#include <gtest/gtest.h>

#include "hub/auth/metaserver_sync.h"

namespace kubehub::hub {
namespace {

using Json = nlohmann::json;

Json whoami(std::string user, bool hub, bool admin) {
  return {{"actor", "user:" + user},
          {"admin", admin},
          {"hub", hub || admin},
          {"user", user},
          {"tenant", "platform"}};
}

/// The answer as the hub reads it (the client's decoder), then checked.
absl::Status checkHubIdentity(const Json& answer, std::string_view hub_id) {
  auto decoded = metaserver::fromJson<metaserver::Whoami>(answer);
  if (!decoded.ok()) return decoded.status();
  return hub::checkHubIdentity(*decoded, hub_id);
}

TEST(HubIdentity, TheTokensUserIsTheHubId) {
  EXPECT_TRUE(checkHubIdentity(whoami("hub-1", true, false), "hub-1").ok());
}

TEST(HubIdentity, AnotherUsersTokenSaysHowToFixIt) {
  absl::Status s = checkHubIdentity(whoami("hub-1", true, false), "hub-2");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("belongs to user \"hub-1\" but --hub-id is \"hub-2\""),
            std::string_view::npos)
      << s.message();
  EXPECT_NE(s.message().find("--hub-id hub-1"), std::string_view::npos) << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string_view::npos) << "one line";
}

TEST(HubIdentity, AFleetTokenServesEveryReplica) {
  EXPECT_TRUE(checkHubIdentity(whoami("kubehub-hub", true, false), "kubehub-hub-5c8d-abcde").ok());
  absl::Status s = checkHubIdentity(whoami("kubehub-hub", true, false), "kubehub-hubs-1");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("USER-*"), std::string_view::npos) << s.message();
}

TEST(HubIdentity, AnAdminsTokenActsForAnyHub) {
  EXPECT_TRUE(checkHubIdentity(whoami("ops", false, true), "hub-2").ok());
  EXPECT_TRUE(
      checkHubIdentity(Json{{"actor", "admin(bootstrap)"}, {"admin", true}, {"hub", true}}, "hub-2")
          .ok());
}

TEST(HubIdentity, ATokenWithoutTheHubRole) {
  absl::Status s = checkHubIdentity(whoami("hub-1", false, false), "hub-1");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("neither the hub nor the admin role"), std::string_view::npos);
}

TEST(HubIdentity, AnAnswerThatIsNotAnObject) {
  EXPECT_FALSE(checkHubIdentity(Json::array(), "hub-1").ok());
  EXPECT_FALSE(checkHubIdentity(Json{{"hub", true}}, "hub-1").ok());  // no user: not hub-1
}

}  // namespace
}  // namespace kubehub::hub
