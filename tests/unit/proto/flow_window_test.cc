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

TEST(FlowWindow, GrowsForAReaderThatKeepsUpAndStopsAtItsLimit) {
  RecvWindow w(100, 400);
  ASSERT_TRUE(w.receive(100));
  // Everything read at once: the window limited the stream, so it doubles.
  EXPECT_EQ(w.consume(100), 200u);
  EXPECT_EQ(w.window(), 200u);
  ASSERT_TRUE(w.receive(200));
  EXPECT_FALSE(w.receive(1)) << "the peer got exactly the credit the increments carried";
  EXPECT_EQ(w.consume(200), 400u);
  EXPECT_EQ(w.window(), 400u);
  ASSERT_TRUE(w.receive(400));
  EXPECT_EQ(w.consume(400), 400u) << "at the limit only what was consumed comes back";
  EXPECT_EQ(w.window(), 400u);
}

TEST(FlowWindow, DoesNotGrowForASlowOrStalledReader) {
  RecvWindow w(100, 400);
  ASSERT_TRUE(w.receive(100));
  // Half read while the other half waits: the reader, not the window, is the limit.
  EXPECT_EQ(w.consume(50), 50u);
  EXPECT_EQ(w.window(), 100u);
  ASSERT_TRUE(w.receive(50));
  EXPECT_FALSE(w.receive(1));
  // A reader that stops gives nothing back, so the peer can send nothing more.
  RecvWindow stalled(100, 400);
  ASSERT_TRUE(stalled.receive(100));
  EXPECT_FALSE(stalled.receive(1));
  EXPECT_EQ(stalled.window(), 100u);
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

TEST(FlowWindow, GrowingWindowNeverLetsTheSenderOverrun) {
  for (uint32_t reader_speed : {50u, 300u, 5000u}) {
    SendWindow s(1000);
    RecvWindow r(1000, 8000);
    uint32_t seed = 777;
    for (int i = 0; i < 100000; ++i) {
      seed = seed * 1103515245 + 12345;
      uint32_t n = (seed >> 16) % 700 + 1;
      if (s.available() >= n) {
        s.consume(n);
        ASSERT_TRUE(r.receive(n));
      }
      ASSERT_LE(r.buffered() + static_cast<uint64_t>(s.available()), r.window());
      uint32_t c = r.buffered() < reader_speed ? r.buffered() : reader_speed;
      if (uint32_t inc = r.consume(c); inc > 0) {
        ASSERT_TRUE(s.grant(inc));
      }
    }
    EXPECT_LE(r.window(), 8000u);
    if (reader_speed == 5000u) {
      EXPECT_EQ(r.window(), 8000u) << "a fast reader reaches the limit";
    }
  }
}

}  // namespace
}  // namespace kubehub::proto
