#include "common/net/backoff.h"

#include <gtest/gtest.h>

#include <random>

namespace kubehub::net {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, CeilingDoublesUpToCap) {
  Backoff b(milliseconds(100), milliseconds(1000));
  std::mt19937_64 rng(1);
  std::vector<int64_t> ceilings;
  for (int i = 0; i < 6; ++i) {
    ceilings.push_back(b.ceiling().count());
    b.next(rng);
  }
  EXPECT_EQ(ceilings, (std::vector<int64_t>{100, 200, 400, 800, 1000, 1000}));
}

TEST(Backoff, FullJitterStaysWithinCeilingAndSpreads) {
  Backoff b(milliseconds(1000), milliseconds(1000));
  std::mt19937_64 rng(42);
  int64_t lo = 1 << 30, hi = -1;
  for (int i = 0; i < 2000; ++i) {
    int64_t d = b.next(rng).count();
    ASSERT_GE(d, 0);
    ASSERT_LE(d, 1000);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  // Full jitter spreads over the whole range, not just near the ceiling.
  EXPECT_LT(lo, 50);
  EXPECT_GT(hi, 950);
}

TEST(Backoff, ResetStartsOver) {
  Backoff b(milliseconds(10), milliseconds(10000));
  std::mt19937_64 rng(3);
  for (int i = 0; i < 20; ++i) b.next(rng);
  EXPECT_EQ(b.ceiling().count(), 10000);
  b.reset();
  EXPECT_EQ(b.attempts(), 0);
  EXPECT_EQ(b.ceiling().count(), 10);
}

TEST(Backoff, ManyAttemptsDoNotOverflow) {
  Backoff b(milliseconds(500), milliseconds(30000));
  std::mt19937_64 rng(9);
  for (int i = 0; i < 10000; ++i) ASSERT_LE(b.next(rng).count(), 30000);
}

}  // namespace
}  // namespace kubehub::net
