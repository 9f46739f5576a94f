#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "common/net/server_main.h"

namespace kubehub::net {
namespace {

TEST(IoPool, SpreadsConnectionsOverContextsEachRunByItsOwnThread) {
  IoPool pool(3);
  ASSERT_EQ(pool.size(), 3);
  std::set<boost::asio::io_context*> contexts;
  for (int i = 0; i < 6; ++i) contexts.insert(&pool.next());
  EXPECT_EQ(contexts.size(), 3u) << "next() does not visit every context";
  EXPECT_TRUE(contexts.count(&pool.main()));

  std::mutex mu;
  std::set<std::thread::id> threads;
  std::promise<void> all_ran;
  int remaining = 3;
  for (auto* io : contexts) {
    boost::asio::post(*io, [&] {
      std::lock_guard lock(mu);
      threads.insert(std::this_thread::get_id());
      if (--remaining == 0) all_ran.set_value();
    });
  }
  std::thread runner([&] { pool.run(nullptr); });
  auto ran = all_ran.get_future().wait_for(std::chrono::seconds(10));
  pool.stop();
  runner.join();
  ASSERT_EQ(ran, std::future_status::ready) << "work posted to a context never ran";
  EXPECT_EQ(threads.size(), 3u) << "two contexts shared a thread";
}

TEST(IoPool, StopEndsRunEvenWhenContextsHaveNoWork) {
  IoPool pool(2);
  std::promise<void> done;
  std::thread runner([&] {
    pool.run(nullptr);
    done.set_value();
  });
  auto early = done.get_future();
  EXPECT_EQ(early.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout)
      << "run() returned before stop()";
  pool.stop();
  EXPECT_EQ(early.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  runner.join();
}

}  // namespace
}  // namespace kubehub::net
