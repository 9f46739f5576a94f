#include "tests/standin/field_selector.h"

#include <gtest/gtest.h>

#include "tests/standin/api_error.h"

namespace kubehub::standin {
namespace {

const Json kPod = {{"metadata", {{"name", "web-1"}, {"namespace", "default"}}},
                   {"spec", {{"nodeName", "node-a"}, {"hostNetwork", false}}},
                   {"status", {{"phase", "Running"}}}};

TEST(FieldSelectorTest, MatchesNameNamespaceAndPodFields) {
  for (const char* sel : {"metadata.name=web-1", "metadata.name==web-1",
                          "metadata.namespace=default,status.phase=Running",
                          "spec.nodeName!=node-b", "spec.hostNetwork=false", ""}) {
    auto s = FieldSelector::parse(sel);
    ASSERT_TRUE(s.ok()) << sel;
    EXPECT_TRUE(s->matches(kPod)) << sel;
  }
  auto s = FieldSelector::parse("metadata.name=web-2");
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->matches(kPod));
  EXPECT_EQ(s->requiredValue("metadata.name"), "web-2");
}

TEST(FieldSelectorTest, EscapedValues) {
  Json obj = {{"metadata", {{"name", "a,b=c"}}}};
  auto s = FieldSelector::parse("metadata.name=a\\,b\\=c");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->matches(obj));
  EXPECT_FALSE(FieldSelector::parse("metadata.name=a\\x").ok());
}

TEST(FieldSelectorTest, UnsupportedFieldHasTheRealMessage) {
  ResourceRegistry reg;
  const ResourceType& pods = reg.type(reg.find("", "v1", "pods"));
  const ResourceType& cms = reg.type(reg.find("", "v1", "configmaps"));
  auto s = FieldSelector::parse("spec.nodeName=x");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->validateFor(pods).ok());
  absl::Status bad = s->validateFor(cms);
  ASSERT_FALSE(bad.ok());
  ErrorResponse r = toErrorResponse(bad);
  EXPECT_EQ(r.code, 400);
  EXPECT_NE(r.body.find("field label not supported: spec.nodeName"), std::string::npos);
}

TEST(FieldSelectorTest, TermWithoutOperatorIsInvalid) {
  auto s = FieldSelector::parse("metadata.name");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(toErrorResponse(s.status()).code, 400);
}

}  // namespace
}  // namespace kubehub::standin
