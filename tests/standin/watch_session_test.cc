#include "tests/standin/watch_session.h"

#include <gtest/gtest.h>

#include <sstream>

namespace kubehub::standin {
namespace {

std::vector<Json> lines(const std::string& text) {
  std::vector<Json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(Json::parse(line));
  return out;
}

class WatchSessionTest : public ::testing::Test {
 protected:
  WatchSessionTest() : store_(registry_, 100) {
    cm_ = registry_.find("", "v1", "configmaps");
    EXPECT_TRUE(
        store_
            .create(registry_.find("", "v1", "namespaces"), Json{{"metadata", {{"name", "d"}}}}, {})
            .ok());
  }
  void put(const std::string& name, Json labels) {
    ASSERT_TRUE(
        store_
            .create(cm_,
                    Json{{"metadata", {{"name", name}, {"namespace", "d"}, {"labels", labels}}}},
                    {})
            .ok());
  }
  void relabel(const std::string& name, Json labels) {
    ASSERT_TRUE(store_
                    .mutate(cm_, "d", name,
                            [&](const Json& cur) -> absl::StatusOr<Json> {
                              Json n = cur;
                              n["metadata"]["labels"] = labels;
                              return n;
                            },
                            {})
                    .ok());
  }
  ResourceRegistry registry_;
  ObjectStore store_;
  int cm_ = 0;
};

TEST_F(WatchSessionTest, InitialStateThenLiveEvents) {
  put("a", Json::object());
  WatchOptions o;
  o.type = cm_;
  WatchSession w(store_, o);
  auto first = lines(w.poll(0));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["type"], "ADDED");
  EXPECT_EQ(first[0]["object"]["metadata"]["name"], "a");
  EXPECT_TRUE(w.poll(0).empty());
  put("b", Json::object());
  ASSERT_TRUE(store_.remove(cm_, "d", "a", {}, {}).ok());
  auto next = lines(w.poll(0));
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next[0]["type"], "ADDED");
  EXPECT_EQ(next[1]["type"], "DELETED");
  EXPECT_EQ(next[1]["object"]["metadata"]["resourceVersion"], std::to_string(store_.currentRv()));
}

TEST_F(WatchSessionTest, SelectorTransitionsBecomeAddedAndDeleted) {
  put("a", Json{{"app", "x"}});
  WatchOptions o;
  o.type = cm_;
  o.initial_state = false;
  o.from_rv = store_.currentRv();
  o.labels = *k8s::LabelSelector::parse("app=x");
  WatchSession w(store_, o);
  relabel("a", Json{{"app", "y"}});
  relabel("a", Json{{"app", "x"}});
  put("other", Json{{"app", "z"}});
  auto ev = lines(w.poll(0));
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0]["type"], "DELETED");
  EXPECT_EQ(ev[0]["object"]["metadata"]["labels"]["app"], "x");  // previous content...
  EXPECT_EQ(ev[0]["object"]["metadata"]["resourceVersion"],
            std::to_string(store_.currentRv() - 2));  // ...at the event's revision
  EXPECT_EQ(ev[1]["type"], "ADDED");
}

TEST_F(WatchSessionTest, TooOldResourceVersionIsAnErrorEvent) {
  put("a", Json::object());
  uint64_t old = store_.currentRv() - 1;
  store_.compact();
  WatchOptions o;
  o.type = cm_;
  o.initial_state = false;
  o.from_rv = old;
  WatchSession w(store_, o);
  auto ev = lines(w.poll(0));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["type"], "ERROR");
  EXPECT_EQ(ev[0]["object"]["code"], 410);
  EXPECT_EQ(ev[0]["object"]["reason"], "Expired");
  EXPECT_TRUE(w.finished());
}

TEST_F(WatchSessionTest, TableFramingAndBookmarks) {
  put("a", Json::object());
  WatchOptions o;
  o.type = cm_;
  o.table = true;
  o.initial_events_end_bookmark = true;
  WatchSession w(store_, o);
  auto ev = lines(w.poll(0));
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0]["object"]["kind"], "Table");
  EXPECT_EQ(ev[0]["object"]["columnDefinitions"].size(), 3u);
  EXPECT_EQ(ev[0]["object"]["rows"][0]["cells"][0], "a");
  EXPECT_EQ(ev[1]["type"], "BOOKMARK");
  EXPECT_TRUE(ev[1]["object"]["columnDefinitions"].is_null());  // only the first has headers
  EXPECT_EQ(
      ev[1]["object"]["rows"][0]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
      "true");
  put("b", Json::object());
  auto bm = lines(w.bookmark(0));
  ASSERT_EQ(bm.size(), 2u);
  EXPECT_EQ(bm[1]["type"], "BOOKMARK");
  EXPECT_EQ(bm[1]["object"]["metadata"]["resourceVersion"], std::to_string(store_.currentRv()));
}

TEST_F(WatchSessionTest, PartialObjectMetadata) {
  put("a", Json{{"app", "x"}});
  WatchOptions o;
  o.type = cm_;
  o.partial = true;
  WatchSession w(store_, o);
  auto ev = lines(w.poll(0));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(ev[0]["object"]["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(ev[0]["object"]["metadata"]["labels"]["app"], "x");
  EXPECT_FALSE(ev[0]["object"].contains("data"));
}

}  // namespace
}  // namespace kubehub::standin
