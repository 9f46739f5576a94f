#include "hub/api/connection_limiter.h"

#include <gtest/gtest.h>

#include <vector>

namespace kubehub::hub {
namespace {

TEST(ConnectionLimiter, BoundsEachClientAndTheTotal) {
  auto limiter = std::make_shared<ConnectionLimiter>(5, 2);
  ConnectionLimiter::Refusal why;
  std::vector<ConnectionLimiter::Slot> held;
  for (int i = 0; i < 2; ++i) {
    auto s = limiter->tryAcquire("10.0.0.1", &why);
    ASSERT_TRUE(s.has_value());
    held.push_back(std::move(*s));
  }
  EXPECT_FALSE(limiter->tryAcquire("10.0.0.1", &why).has_value());
  EXPECT_EQ(why, ConnectionLimiter::Refusal::kPerClient);
  for (const char* c : {"10.0.0.2", "10.0.0.3", "10.0.0.4"}) {
    auto s = limiter->tryAcquire(c, &why);
    ASSERT_TRUE(s.has_value()) << c;
    held.push_back(std::move(*s));
  }
  EXPECT_EQ(limiter->open(), 5u);
  EXPECT_FALSE(limiter->tryAcquire("10.0.0.9", &why).has_value());
  EXPECT_EQ(why, ConnectionLimiter::Refusal::kTotal);
}

TEST(ConnectionLimiter, SlotsGiveTheirPlaceBackOnceWhateverWayTheyEnd) {
  auto limiter = std::make_shared<ConnectionLimiter>(0, 1);
  ConnectionLimiter::Refusal why;
  {
    auto s = limiter->tryAcquire("a", &why);
    ASSERT_TRUE(s.has_value());
    ConnectionLimiter::Slot moved = std::move(*s);
    ConnectionLimiter::Slot assigned;
    assigned = std::move(moved);
    EXPECT_EQ(limiter->open(), 1u);
    EXPECT_FALSE(limiter->tryAcquire("a", &why).has_value());
  }
  EXPECT_EQ(limiter->open(), 0u);
  EXPECT_TRUE(limiter->tryAcquire("a", &why).has_value());
}

TEST(ConnectionLimiter, ZeroMeansUnlimited) {
  auto limiter = std::make_shared<ConnectionLimiter>(0, 0);
  ConnectionLimiter::Refusal why;
  std::vector<ConnectionLimiter::Slot> held;
  for (int i = 0; i < 1000; ++i) {
    auto s = limiter->tryAcquire("same", &why);
    ASSERT_TRUE(s.has_value());
    held.push_back(std::move(*s));
  }
  EXPECT_EQ(limiter->open(), 1000u);
}

}  // namespace
}  // namespace kubehub::hub
