#include "common/auth/label_selector.h"

#include <gtest/gtest.h>

namespace kubehub::auth {
namespace {

bool sel(std::string_view text, const Labels& labels) {
  auto s = LabelSelector::parse(text);
  EXPECT_TRUE(s.ok()) << text << ": " << s.status();
  return s.ok() && s->matches(labels);
}

TEST(LabelSelector, Operators) {
  Labels l = {{"env", "prod"}, {"region", "eu"}, {"example.com/team", "edge"}};
  EXPECT_TRUE(sel("", l));
  EXPECT_TRUE(sel("env=prod", l));
  EXPECT_TRUE(sel("env==prod", l));
  EXPECT_FALSE(sel("env=dev", l));
  EXPECT_TRUE(sel("env!=dev", l));
  EXPECT_TRUE(sel("missing!=x", l));
  EXPECT_TRUE(sel("region in (us, eu)", l));
  EXPECT_FALSE(sel("region notin (eu)", l));
  EXPECT_TRUE(sel("region notin (us)", l));
  EXPECT_FALSE(sel("missing in (a)", l));
  EXPECT_TRUE(sel("missing notin (a)", l));
  EXPECT_TRUE(sel("env", l));
  EXPECT_FALSE(sel("!env", l));
  EXPECT_TRUE(sel("!missing", l));
  EXPECT_TRUE(sel("example.com/team=edge,env=prod, region in (eu)", l));
  EXPECT_FALSE(sel("example.com/team=edge,env=dev", l));
}

TEST(LabelSelector, CanonicalForm) {
  auto s = LabelSelector::parse("b in (y,x,x), a=1 ,!c");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->str(), "b in (x,y),a=1,!c");
  EXPECT_EQ(LabelSelector::parse(s->str())->str(), s->str());
}

TEST(LabelSelector, RejectsMalformedAndInjectionAttempts) {
  for (std::string_view bad :
       {"=prod", "env in", "env in ()", "env in (a", "env in (a,)", "env=prod,", ",env=prod",
        "env=pr od", "env=a/b", "-env=x", "env=prod;", "env=prod' OR '1'='1",
        "env=prod'; DROP TABLE clusters;--", "env in (a) b", "x=\"y\"", "env=\x01", "a..b=c/d=e"}) {
    auto s = LabelSelector::parse(bad);
    EXPECT_FALSE(s.ok()) << "accepted: " << bad;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
  EXPECT_FALSE(LabelSelector::parse(std::string(5000, 'a')).ok());
  // "env=" with an empty value is a valid selector in Kubernetes, matching an empty value.
}

TEST(LabelSelector, KeysAndValues) {
  EXPECT_TRUE(isLabelKey("app"));
  EXPECT_TRUE(isLabelKey("app.kubernetes.io/name"));
  EXPECT_FALSE(isLabelKey("App.Example/x"));
  EXPECT_FALSE(isLabelKey(std::string(64, 'a')));
  EXPECT_FALSE(isLabelKey("a/"));
  EXPECT_TRUE(isLabelValue(""));
  EXPECT_TRUE(isLabelValue("v1.2_3-x"));
  EXPECT_FALSE(isLabelValue("-x"));
}

}  // namespace
}  // namespace kubehub::auth
