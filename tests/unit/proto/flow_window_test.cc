#include "proto/flow_window.h"

#include <gtest/gtest.h>

namespace kubehub::proto {
namespace {

TEST(FlowWindow, ReceiverDetectsOverrun) {
  RecvWindow w(100);
  EXPECT_TRUE(w.receive(60));
  EXPECT_TRUE(w.receive(40));
  EXPECT_FALSE(w.receive(1));
}

TEST(FlowWindow, CreditReturnedAfterHalfConsumed) {
  RecvWindow w(100);
  ASSERT_TRUE(w.receive(100));
  EXPECT_EQ(w.consume(30), 0u);
  EXPECT_EQ(w.buffered(), 70u);
  EXPECT_EQ(w.consume(30), 60u);
  EXPECT_TRUE(w.receive(60));
  EXPECT_FALSE(w.receive(1));
}

TEST(FlowWindow, SenderCredit) {
  SendWindow s(100);
  s.consume(100);
  EXPECT_EQ(s.available(), 0);
  EXPECT_TRUE(s.grant(50));
  EXPECT_EQ(s.available(), 50);
  EXPECT_FALSE(s.grant(0x7fffffff));
}

TEST(FlowWindow, SenderAndReceiverAgreeUnderRandomTraffic) {
  SendWindow s(1000);
  RecvWindow r(1000);
  uint32_t seed = 12345;
  uint64_t delivered = 0;
  for (int i = 0; i < 100000; ++i) {
    seed = seed * 1103515245 + 12345;
    uint32_t n = (seed >> 16) % 300 + 1;
    if (s.available() >= n) {
      s.consume(n);
      ASSERT_TRUE(r.receive(n));
    }
    uint32_t c = r.buffered() < 200 ? r.buffered() : 200;
    delivered += c;
    if (uint32_t inc = r.consume(c); inc > 0) {
      ASSERT_TRUE(s.grant(inc));
    }
  }
  EXPECT_GT(delivered, 1000000u);
}

}  // namespace
}  // namespace kubehub::proto
