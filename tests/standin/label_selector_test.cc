#include "tests/standin/label_selector.h"

#include <gtest/gtest.h>

#include "tests/standin/api_error.h"

namespace kubehub::standin {
namespace {

bool matches(std::string_view selector, const Json& labels) {
  auto s = LabelSelector::parse(selector);
  EXPECT_TRUE(s.ok()) << selector << ": " << s.status();
  return s.ok() && s->matches(&labels);
}

TEST(LabelSelectorTest, EqualityOperators) {
  Json labels = {{"app", "web"}, {"tier", "frontend"}};
  EXPECT_TRUE(matches("app=web", labels));
  EXPECT_TRUE(matches("app==web", labels));
  EXPECT_FALSE(matches("app=db", labels));
  EXPECT_TRUE(matches("app!=db", labels));
  EXPECT_TRUE(matches("missing!=x", labels));  // != also selects objects without the label
  EXPECT_TRUE(matches("app=web,tier=frontend", labels));
  EXPECT_FALSE(matches("app=web,tier=backend", labels));
  EXPECT_TRUE(matches(" app = web , tier = frontend ", labels));
}

TEST(LabelSelectorTest, SetOperatorsAndExistence) {
  Json labels = {{"app", "web"}, {"empty", ""}};
  EXPECT_TRUE(matches("app in (db, web)", labels));
  EXPECT_FALSE(matches("app in (db)", labels));
  EXPECT_TRUE(matches("app notin (db)", labels));
  EXPECT_TRUE(matches("other notin (db)", labels));
  EXPECT_FALSE(matches("app notin (web,db)", labels));
  EXPECT_TRUE(matches("app", labels));
  EXPECT_FALSE(matches("!app", labels));
  EXPECT_TRUE(matches("!other", labels));
  EXPECT_TRUE(matches("empty=", labels));
  EXPECT_TRUE(matches("empty in (a,)", labels));
  EXPECT_TRUE(matches("example.com/key!=x,app", labels));
}

TEST(LabelSelectorTest, NumericComparisons) {
  Json labels = {{"size", "5"}, {"name", "x"}};
  EXPECT_TRUE(matches("size>3", labels));
  EXPECT_FALSE(matches("size<3", labels));
  EXPECT_FALSE(matches("name>3", labels));
}

TEST(LabelSelectorTest, EmptySelectsEverything) {
  auto s = LabelSelector::parse("");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->empty());
  EXPECT_TRUE(s->matches(nullptr));
}

TEST(LabelSelectorTest, NullLabels) {
  auto s = LabelSelector::parse("!app,x notin (y)");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->matches(nullptr));
}

TEST(LabelSelectorTest, InvalidSelectorsAreBadRequests) {
  for (const char* bad :
       {"app in (web", "app in web", "=web", "app=web,", "a b", "app=we b", "-app=x", "app=!x",
        "size>x", "!app=x", "app in (a b)", "app=(x)", ",", "app===x"}) {
    auto s = LabelSelector::parse(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(toErrorResponse(s.status()).code, 400) << bad;
  }
}

TEST(LabelSelectorTest, LongValueRejected) {
  EXPECT_FALSE(LabelSelector::parse("app=" + std::string(64, 'a')).ok());
  EXPECT_TRUE(LabelSelector::parse("app=" + std::string(63, 'a')).ok());
}

}  // namespace
}  // namespace kubehub::standin
