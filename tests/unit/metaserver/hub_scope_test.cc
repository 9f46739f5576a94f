// A hub's token acts only for the hub named like its user (checkActsForHub), on every route a
// hub may use to change something.
#include <gtest/gtest.h>

#include <set>

#include "metaserver/api/api_server.h"
#include "metaserver/api/routes.h"

namespace kubehub::metaserver {
namespace {

Principal userWith(std::string name, std::vector<std::string> roles) {
  Principal p;
  p.kind = Principal::Kind::kUser;
  p.user = std::move(name);
  p.tenant = "platform";
  p.roles = std::move(roles);
  return p;
}

TEST(HubScope, AHubTokenActsForItsOwnHubOnly) {
  Principal hub1 = userWith("hub-1", {std::string(kRoleHub)});
  EXPECT_TRUE(checkActsForHub(hub1, "hub-1").ok());
  for (std::string_view other : {"hub-2", "hub-1.example", "hub", "edge-3"}) {
    absl::Status s = checkActsForHub(hub1, other);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << other;
    EXPECT_EQ(httpStatusFor(s), 403) << other;
    EXPECT_NE(s.message().find("own hub \"hub-1\""), std::string_view::npos) << s.message();
    EXPECT_NE(s.message().find("\"" + std::string(other) + "\""), std::string_view::npos)
        << s.message();
  }
}

// One token for every replica of a Deployment: the user names the fleet, the pods' ids begin
// with it and a dash. Nothing else matches: not a bare prefix, not an empty suffix.
TEST(HubScope, AFleetTokenActsForTheFleetsHubs) {
  Principal fleet = userWith("kubehub-hub", {std::string(kRoleHub)});
  for (std::string_view mine : {"kubehub-hub", "kubehub-hub-7d9f-x2x", "kubehub-hub-0"}) {
    EXPECT_TRUE(checkActsForHub(fleet, mine).ok()) << mine;
  }
  for (std::string_view other :
       {"kubehub-hub-", "kubehub-hubx", "kubehub", "kubehub-h", "x-kubehub-hub-1"}) {
    absl::Status s = checkActsForHub(fleet, other);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << other;
    EXPECT_NE(s.message().find("\"kubehub-hub-*\""), std::string_view::npos) << s.message();
  }
}

TEST(HubScope, AdminsActForEveryHub) {
  Principal ops = userWith("ops", {std::string(kRoleAdmin)});
  EXPECT_TRUE(checkActsForHub(ops, "hub-2").ok());
  Principal bootstrap_admin;
  bootstrap_admin.kind = Principal::Kind::kBootstrapAdmin;
  EXPECT_TRUE(checkActsForHub(bootstrap_admin, "hub-2").ok());
}

TEST(HubScope, NoOneElseActsForAHub) {
  // A plain user named like a hub never gets this far (the route wants the hub role), but the
  // check alone must not let a cluster's bootstrap token or an anonymous caller through.
  Principal bootstrap;
  bootstrap.kind = Principal::Kind::kBootstrapToken;
  EXPECT_EQ(checkActsForHub(bootstrap, "hub-1").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(checkActsForHub(Principal{}, "hub-1").code(), absl::StatusCode::kPermissionDenied);
  Principal empty_name = userWith("", {std::string(kRoleHub)});
  EXPECT_EQ(checkActsForHub(empty_name, "").code(), absl::StatusCode::kPermissionDenied);
}

// Every route on which a hub's token changes something is one of the hub-scoped handlers: a
// new one must decide whether it needs checkActsForHub (and be added here).
TEST(HubScope, TheRoutesAHubMayChangeAreTheScopedOnes) {
  std::set<std::string> hub_writes;
  for (const Route& r : routeTable()) {
    if (r.access == Access::kHub && r.method != "GET") hub_writes.insert(std::string(r.operation));
  }
  EXPECT_EQ(hub_writes,
            (std::set<std::string>{"heartbeatHub", "deleteHub", "issueHubCertificate",
                                   "putConnection", "deleteConnection", "reportClusterStatus"}));
}

}  // namespace
}  // namespace kubehub::metaserver
