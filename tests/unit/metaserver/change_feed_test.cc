#include "metaserver/store/change_feed.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace kubehub::metaserver {
namespace {

using Clock = std::chrono::steady_clock;
using G = ChangeFeed::Generations;

TEST(ChangeFeed, SinceRoundTripsAndRejectsJunk) {
  G g{{"bans", 2}, {"revocations", 17}};
  EXPECT_EQ(ChangeFeed::format(g), "bans:2,revocations:17");
  EXPECT_EQ(*ChangeFeed::parse("bans:2,revocations:17"), g);
  EXPECT_TRUE(ChangeFeed::parse("")->empty());
  for (const char* bad : {"bans", "bans:", ":3", "bans:-1", "bans:x", "bans:1,,x:2", "a:1;b:2"}) {
    EXPECT_FALSE(ChangeFeed::parse(bad).ok()) << bad;
  }
}

TEST(ChangeFeed, AnswersAtOnceWhenTheCallerIsBehind) {
  ChangeFeed feed;
  feed.update({{"bans", 1}, {"routes", 4}});
  std::vector<G> answers;
  auto record = [&](const G& g) { answers.push_back(g); };
  // Behind on one feed, missing one, or knowing nothing: answered at once.
  EXPECT_TRUE(
      feed.wait({{"bans", 0}, {"routes", 4}}, Clock::now() + std::chrono::seconds(5), record));
  EXPECT_TRUE(feed.wait({{"bans", 1}}, Clock::now() + std::chrono::seconds(5), record));
  EXPECT_TRUE(feed.wait({}, Clock::now() + std::chrono::seconds(5), record));
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0], (G{{"bans", 1}, {"routes", 4}}));
  EXPECT_EQ(feed.waiting(), 0u);
}

TEST(ChangeFeed, WaitsUntilAFeedMoves) {
  ChangeFeed feed;
  G now{{"bans", 1}, {"revocations", 7}};
  feed.update(now);
  std::vector<G> answers;
  EXPECT_FALSE(feed.wait(now, Clock::now() + std::chrono::seconds(5),
                         [&](const G& g) { answers.push_back(g); }));
  EXPECT_EQ(feed.waiting(), 1u);
  feed.update(now);  // the same generations (a re-read): nobody is woken
  EXPECT_TRUE(answers.empty());
  feed.update({{"bans", 1}, {"revocations", 8}});
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].at("revocations"), 8);
  EXPECT_EQ(feed.waiting(), 0u);
}

TEST(ChangeFeed, ExpiredWaitersAreForgottenAndAnUnknownFeedAnswersEmpty) {
  ChangeFeed feed;
  std::vector<G> answers;
  auto record = [&](const G& g) { answers.push_back(g); };
  // Not known yet (the listener has not read the database): answered at once with nothing.
  EXPECT_TRUE(feed.wait({}, Clock::now() + std::chrono::seconds(5), record));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(answers[0].empty());
  answers.clear();
  feed.update({{"bans", 1}});
  // A waiter past its deadline (its caller answered it already) is not called again.
  EXPECT_FALSE(feed.wait({{"bans", 1}}, Clock::now() - std::chrono::seconds(1), record));
  feed.update({{"bans", 2}});
  EXPECT_TRUE(answers.empty());
  EXPECT_EQ(feed.waiting(), 0u);
  // The listener lost the database: waiters are answered with nothing (the API's 503).
  EXPECT_FALSE(feed.wait({{"bans", 2}}, Clock::now() + std::chrono::seconds(5), record));
  feed.invalidate();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(answers[0].empty());
  EXPECT_FALSE(feed.known());
}

}  // namespace
}  // namespace kubehub::metaserver
