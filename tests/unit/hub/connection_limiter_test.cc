#include "hub/api/connection_limiter.h"

#include <gtest/gtest.h>

#include <string>
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

TEST(ConnectionLimiter, AtTheTotalTheLongestIdleConnectionMakesRoom) {
  auto limiter = std::make_shared<ConnectionLimiter>(3, 0);
  ConnectionLimiter::Refusal why;
  std::vector<int> shed;
  std::vector<ConnectionLimiter::Slot> held;
  for (int i = 0; i < 3; ++i) {
    auto s = limiter->tryAcquire("c" + std::to_string(i), &why);
    ASSERT_TRUE(s.has_value());
    held.push_back(std::move(*s));
  }
  // 0 idle first, then 2; 1 is serving a request.
  held[0].onShed([&] { shed.push_back(0); });
  held[0].markIdle();
  held[2].onShed([&] { shed.push_back(2); });
  held[2].markIdle();
  held[1].onShed([&] { shed.push_back(1); });
  held[1].markIdle();
  held[1].markBusy();
  EXPECT_EQ(limiter->idle(), 2u);

  bool was_shed = false;
  auto fourth = limiter->tryAcquire("new", &why, &was_shed);
  ASSERT_TRUE(fourth.has_value());
  EXPECT_TRUE(was_shed);
  EXPECT_EQ(shed, std::vector<int>{0});
  // Until the shed connection is gone it still counts as open, but does not keep out the next
  // one admitted in the place of another idle connection.
  EXPECT_EQ(limiter->open(), 4u);
  held[0].onShed([&] { shed.push_back(100); });
  held[0].markIdle();  // too late: it is being shed, not re-marked
  auto fifth = limiter->tryAcquire("new", &why, &was_shed);
  ASSERT_TRUE(fifth.has_value());
  EXPECT_EQ(shed, (std::vector<int>{0, 2}));
  // Nothing idle any more: refused, and nobody else shed.
  EXPECT_FALSE(limiter->tryAcquire("new", &why, &was_shed).has_value());
  EXPECT_EQ(why, ConnectionLimiter::Refusal::kTotal);
  EXPECT_FALSE(was_shed);
  EXPECT_EQ(limiter->shedTotal(), 2u);
  // The shed connections close: the count is exact again.
  held[0] = ConnectionLimiter::Slot();
  held[2] = ConnectionLimiter::Slot();
  EXPECT_EQ(limiter->open(), 3u);
  EXPECT_FALSE(limiter->tryAcquire("new", &why).has_value());
  EXPECT_EQ(shed, (std::vector<int>{0, 2}));
}

TEST(ConnectionLimiter, ANewlyIdleConnectionIsShedLastAndAClosedOneNever) {
  auto limiter = std::make_shared<ConnectionLimiter>(2, 0);
  ConnectionLimiter::Refusal why;
  std::vector<int> shed;
  auto a = limiter->tryAcquire("a", &why);
  auto b = limiter->tryAcquire("b", &why);
  ASSERT_TRUE(a && b);
  a->onShed([&] { shed.push_back(1); });
  a->markIdle();
  b->onShed([&] { shed.push_back(2); });
  b->markIdle();
  a->markBusy();
  a->markIdle();                   // a served a request and waits again: now newest
  *b = ConnectionLimiter::Slot();  // b closed on its own: never called
  auto c = limiter->tryAcquire("c", &why);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(shed.empty());
  bool was_shed = false;
  auto d = limiter->tryAcquire("d", &why, &was_shed);
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(was_shed);
  EXPECT_EQ(shed, std::vector<int>{1});
}

TEST(ConnectionLimiter, APerClientRefusalShedsNobody) {
  auto limiter = std::make_shared<ConnectionLimiter>(2, 1);
  ConnectionLimiter::Refusal why;
  int shed = 0;
  auto a = limiter->tryAcquire("a", &why);
  auto b = limiter->tryAcquire("b", &why);
  ASSERT_TRUE(a && b);
  a->onShed([&] { ++shed; });
  a->markIdle();
  bool was_shed = true;
  EXPECT_FALSE(limiter->tryAcquire("b", &why, &was_shed).has_value());
  EXPECT_EQ(why, ConnectionLimiter::Refusal::kPerClient);
  EXPECT_FALSE(was_shed);
  EXPECT_EQ(shed, 0);
}

}  // namespace
}  // namespace kubehub::hub
