#include "common/k8s/selectors.h"

#include <gtest/gtest.h>

namespace kubehub::k8s {
namespace {

bool sel(std::string_view text, const Labels& labels) {
  auto s = LabelSelector::parse(text);
  EXPECT_TRUE(s.ok()) << text << ": " << s.status();
  return s.ok() && s->matches(labels);
}

TEST(LabelSelector, Operators) {
  Labels l = {{"app", "web"}, {"tier", "front"}, {"app.kubernetes.io/name", "x"}, {"n", "5"}};
  EXPECT_TRUE(sel("", l));
  EXPECT_TRUE(sel("app=web", l));
  EXPECT_TRUE(sel("app==web", l));
  EXPECT_FALSE(sel("app=db", l));
  EXPECT_TRUE(sel("app!=db", l));
  EXPECT_TRUE(sel("missing!=x", l));
  EXPECT_TRUE(sel("app in (web, db)", l));
  EXPECT_FALSE(sel("app notin (web,db)", l));
  EXPECT_TRUE(sel("missing notin (a)", l));
  EXPECT_FALSE(sel("missing in (a)", l));
  EXPECT_TRUE(sel("tier", l));
  EXPECT_FALSE(sel("!tier", l));
  EXPECT_TRUE(sel("!missing", l));
  EXPECT_TRUE(sel("app.kubernetes.io/name=x", l));
  EXPECT_TRUE(sel("n>4,n<6", l));
  EXPECT_FALSE(sel("n>5", l));
  EXPECT_TRUE(sel(" app = web , tier in (front) ", l));
  EXPECT_FALSE(sel("app=web,tier=back", l));
  EXPECT_TRUE(sel("app=", {{"app", ""}}));
}

TEST(LabelSelector, RefusesWhatKubernetesRefuses) {
  for (const char* bad : {"app=web,", "app in web", "app in (web", "=web", "app=we b", "a b", "n>x",
                          "app=-x", "Bad_Prefix/x=1", "app in (a,,b"}) {
    EXPECT_FALSE(LabelSelector::parse(bad).ok()) << bad;
  }
}

TEST(FieldSelector, NameAndNamespace) {
  auto s = FieldSelector::parse("metadata.name=web-0,metadata.namespace!=kube-system");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->matches("default", "web-0"));
  EXPECT_FALSE(s->matches("kube-system", "web-0"));
  EXPECT_FALSE(s->matches("default", "web-1"));
  EXPECT_EQ(s->exactName().value(), "web-0");
  auto other = FieldSelector::parse("status.phase=Running");
  ASSERT_FALSE(other.ok());
  EXPECT_TRUE(absl::IsUnimplemented(other.status()));
  EXPECT_FALSE(FieldSelector::parse("nonsense").ok());
  EXPECT_TRUE(FieldSelector::parse("").ok());
}

}  // namespace
}  // namespace kubehub::k8s
