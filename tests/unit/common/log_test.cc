#include "common/log/log.h"

#include <gtest/gtest.h>

namespace kubehub::log {
namespace {

TEST(Log, FormatsKeyValuesAndQuotes) {
  EXPECT_EQ(format("tunnel up", {{"cluster", "edge-1"}, {"streams", 3}}),
            "msg=\"tunnel up\" cluster=edge-1 streams=3");
  EXPECT_EQ(format("x", {{"reason", "a \"b\"\nc"}}), "msg=x reason=\"a \\\"b\\\"\\nc\"");
  EXPECT_EQ(format("x", {{"empty", ""}}), "msg=x empty=\"\"");
}

TEST(Log, ParsesLevels) {
  Level l = Level::kInfo;
  EXPECT_TRUE(parseLevel("debug", &l));
  EXPECT_EQ(l, Level::kDebug);
  EXPECT_FALSE(parseLevel("verbose", &l));
}

}  // namespace
}  // namespace kubehub::log
