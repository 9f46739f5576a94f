#include "hub/api/stream_quota.h"

#include <gtest/gtest.h>

#include <vector>

namespace kubehub::hub {
namespace {

StreamQuotaLimits small() {
  StreamQuotaLimits l;
  l.long_lived_per_user = 2;
  l.long_lived_per_tenant = 3;
  l.requests_per_user = 1;
  l.requests_per_tenant = 0;  // no limit
  return l;
}

TEST(StreamQuota, OneUserCannotTakeTheTenantsShareNorTheTenantTheTunnels) {
  auto q = std::make_shared<StreamQuota>(small());
  StreamQuota::Refusal why;
  std::vector<StreamQuota::Lease> held;
  for (int i = 0; i < 2; ++i) {
    auto l = q->tryAcquire("edge-1", "acme", "alice", true, &why);
    ASSERT_TRUE(l.has_value());
    held.push_back(std::move(*l));
  }
  ASSERT_FALSE(q->tryAcquire("edge-1", "acme", "alice", true, &why).has_value());
  EXPECT_EQ(why.flag, "--max-long-streams-per-user");
  EXPECT_EQ(why.limit, 2u);
  EXPECT_EQ(why.scope, "user");
  // Another user of the same tenant gets the tenant's last long-lived stream...
  auto bob = q->tryAcquire("edge-1", "acme", "bob", true, &why);
  ASSERT_TRUE(bob.has_value());
  ASSERT_FALSE(q->tryAcquire("edge-1", "acme", "carol", true, &why).has_value());
  EXPECT_EQ(why.flag, "--max-long-streams-per-tenant");
  EXPECT_EQ(why.scope, "tenant");
  // ...while another tenant, another cluster and short requests are untouched.
  EXPECT_TRUE(q->tryAcquire("edge-1", "globex", "dave", true, &why).has_value());
  EXPECT_TRUE(q->tryAcquire("edge-2", "acme", "alice", true, &why).has_value());
  EXPECT_TRUE(q->tryAcquire("edge-1", "acme", "alice", false, &why).has_value());
}

TEST(StreamQuota, LeasesGiveTheirShareBack) {
  auto q = std::make_shared<StreamQuota>(small());
  StreamQuota::Refusal why;
  {
    auto a = q->tryAcquire("edge-1", "acme", "alice", false, &why);
    ASSERT_TRUE(a.has_value());
    EXPECT_FALSE(q->tryAcquire("edge-1", "acme", "alice", false, &why).has_value());
    EXPECT_EQ(why.flag, "--max-requests-per-user");
    StreamQuota::Lease moved = std::move(*a);
    StreamQuota::Lease assigned;
    assigned = std::move(moved);
    EXPECT_EQ(q->held("edge-1", "user", "alice", false), 1u);
  }
  EXPECT_EQ(q->held("edge-1", "user", "alice", false), 0u);
  EXPECT_EQ(q->held("edge-1", "tenant", "acme", false), 0u);
  EXPECT_TRUE(q->tryAcquire("edge-1", "acme", "alice", false, &why).has_value());
}

TEST(StreamQuota, UsersWithoutTenantAreBoundedAsUsers) {
  auto q = std::make_shared<StreamQuota>(small());
  StreamQuota::Refusal why;
  auto a = q->tryAcquire("edge-1", "", "ops", false, &why);
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(q->tryAcquire("edge-1", "", "ops", false, &why).has_value());
  EXPECT_EQ(why.scope, "user");
}

}  // namespace
}  // namespace kubehub::hub
