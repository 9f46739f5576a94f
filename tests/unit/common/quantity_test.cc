#include "common/k8s/quantity.h"

#include <gtest/gtest.h>

namespace kubehub::k8s {
namespace {

TEST(Quantity, CpuInMillicores) {
  EXPECT_EQ(*parseMilliQuantity("4"), 4000);
  EXPECT_EQ(*parseMilliQuantity("3500m"), 3500);
  EXPECT_EQ(*parseMilliQuantity("0.5"), 500);
  EXPECT_EQ(*parseMilliQuantity("1.25"), 1250);
  EXPECT_EQ(*parseMilliQuantity("0"), 0);
  EXPECT_EQ(*parseMilliQuantity("+2"), 2000);
  // Below a millicore rounds up, as the API server's MilliValue does.
  EXPECT_EQ(*parseMilliQuantity("250u"), 1);
  EXPECT_EQ(*parseMilliQuantity("1n"), 1);
  EXPECT_EQ(*parseMilliQuantity("1500000n"), 2);
  EXPECT_EQ(*parseMilliQuantity("0.0001"), 1);
}

TEST(Quantity, MemoryInBytes) {
  EXPECT_EQ(*parseByteQuantity("16Gi"), 17179869184);
  EXPECT_EQ(*parseByteQuantity("16331164Ki"), 16331164LL * 1024);
  EXPECT_EQ(*parseByteQuantity("512Mi"), 512LL << 20);
  EXPECT_EQ(*parseByteQuantity("2Ti"), 2LL << 40);
  EXPECT_EQ(*parseByteQuantity("1Pi"), 1LL << 50);
  EXPECT_EQ(*parseByteQuantity("1Ei"), 1LL << 60);
  EXPECT_EQ(*parseByteQuantity("1.5Gi"), 1610612736);
  EXPECT_EQ(*parseByteQuantity("1k"), 1000);
  EXPECT_EQ(*parseByteQuantity("1.5k"), 1500);
  EXPECT_EQ(*parseByteQuantity("128M"), 128000000);
  EXPECT_EQ(*parseByteQuantity("16G"), 16000000000);
  EXPECT_EQ(*parseByteQuantity("1T"), 1000000000000);
  EXPECT_EQ(*parseByteQuantity("8589934592"), 8589934592);
  EXPECT_EQ(*parseByteQuantity("100m"), 1);  // 0.1 byte rounds up
  EXPECT_EQ(*parseByteQuantity("2e3"), 2000);
  EXPECT_EQ(*parseByteQuantity("2E3"), 2000);
  EXPECT_EQ(*parseByteQuantity("12e-1"), 2);
  EXPECT_EQ(*parseByteQuantity("0007"), 7);
}

TEST(Quantity, RefusesMalformed) {
  for (const char* bad : {"", "m", "Gi", "1K", "1kb", "1 Gi", "1..5", "1.5.0", "--1", "1Gi ", " 1",
                          "0x10", "1e", "1e1234", "1ii", "abc", "1mi", "1Ki1"}) {
    auto q = parseByteQuantity(bad);
    ASSERT_FALSE(q.ok()) << bad;
    EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(Quantity, RefusesWhatDoesNotFit) {
  EXPECT_EQ(parseByteQuantity("16Ei").status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(parseMilliQuantity("9223372036854775807").status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(parseByteQuantity(std::string(60, '9')).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(*parseByteQuantity("9223372036854775807"), 9223372036854775807);
}

TEST(Quantity, Negative) { EXPECT_EQ(*parseMilliQuantity("-1"), -1000); }

}  // namespace
}  // namespace kubehub::k8s
