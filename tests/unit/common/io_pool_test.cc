#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "common/net/server_main.h"

namespace kubehub::net {
namespace {

// A handler that throws (a resource error in one connection) must not end the event loop and
// every other connection on it: run() goes on with the next handler.
TEST(IoPool, AThrowingHandlerDoesNotEndTheEventLoop) {
  IoPool pool(2);
  std::promise<void> after;
  for (auto* io : {&pool.main(), &pool.next()}) {
    boost::asio::post(*io, [] { throw std::runtime_error("Too many open files"); });
  }
  std::atomic<int> ran{0};
  for (auto* io : {&pool.main(), &pool.next()}) {
    boost::asio::post(*io, [&] {
      if (++ran == 2) after.set_value();
    });
  }
  std::thread runner([&] { pool.run(nullptr); });
  auto status = after.get_future().wait_for(std::chrono::seconds(10));
  pool.stop();
  runner.join();
  EXPECT_EQ(status, std::future_status::ready) << "handlers after the throwing one never ran";
}

// At start a server raises its soft descriptor limit to the hard one.
TEST(DescriptorLimit, SoftLimitIsRaisedToTheHardOne) {
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  rlimit lowered = before;
  lowered.rlim_cur = std::min<rlim_t>(before.rlim_max, 256);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
  uint64_t now = raiseDescriptorLimit();
  rlimit after{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &after), 0);
  setrlimit(RLIMIT_NOFILE, &before);
  EXPECT_EQ(after.rlim_cur, before.rlim_max);
  if (before.rlim_max != RLIM_INFINITY) {
    EXPECT_EQ(now, static_cast<uint64_t>(before.rlim_max));
  }
}

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

TEST(IoPool, TunnelsGetTheirOwnGroupOfContexts) {
  IoPool pool(2, 3);
  EXPECT_EQ(pool.size(), 5);
  EXPECT_EQ(pool.userThreads(), 2);
  std::set<boost::asio::io_context*> users, tunnels;
  for (int i = 0; i < 10; ++i) users.insert(&pool.next());
  for (int i = 0; i < 10; ++i) tunnels.insert(&pool.nextTunnel());
  EXPECT_EQ(users.size(), 2u);
  EXPECT_EQ(tunnels.size(), 3u);
  EXPECT_TRUE(users.count(&pool.main()));
  for (auto* t : tunnels) EXPECT_FALSE(users.count(t)) << "a tunnel context also takes users";

  IoPool shared(2, 0);  // no tunnel threads: tunnels share the users' contexts
  std::set<boost::asio::io_context*> a, b;
  for (int i = 0; i < 4; ++i) a.insert(&shared.next());
  for (int i = 0; i < 4; ++i) b.insert(&shared.nextTunnel());
  EXPECT_EQ(a, b);
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

TEST(UsableCpus, ParsesCgroupCpuMax) {
  EXPECT_EQ(parseCpuMax("max 100000\n"), std::nullopt);
  EXPECT_EQ(parseCpuMax("150000 100000\n"), 1.5);
  EXPECT_EQ(parseCpuMax("50000 100000"), 0.5);
  EXPECT_EQ(parseCpuMax(""), std::nullopt);
  EXPECT_EQ(parseCpuMax("0 100000"), std::nullopt);
  EXPECT_EQ(parseCpuMax("100000 0"), std::nullopt);
  EXPECT_EQ(parseCpuMax("12x 100000"), std::nullopt);
  EXPECT_EQ(parseCpuMax("-5 100000"), std::nullopt);
}

TEST(UsableCpus, FindsTheCgroupV2Path) {
  EXPECT_EQ(parseCgroupV2Path("0::/kubepods/pod1/c1\n"), "/kubepods/pod1/c1");
  EXPECT_EQ(parseCgroupV2Path("12:cpu,cpuacct:/x\n0::/\n"), "/");
  EXPECT_EQ(parseCgroupV2Path("12:cpu,cpuacct:/x\n"), std::nullopt);  // cgroup v1 only
  EXPECT_EQ(parseCgroupV2Path(""), std::nullopt);
}

TEST(UsableCpus, FollowsTheAffinityMask) {
  cpu_set_t all;
  CPU_ZERO(&all);
  ASSERT_EQ(sched_getaffinity(0, sizeof(all), &all), 0);
  int n = usableCpus();
  EXPECT_GE(n, 1);
  EXPECT_LE(n, CPU_COUNT(&all));

  int first = 0;
  while (!CPU_ISSET(first, &all)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);  // this thread only
  int pinned = usableCpus();
  ASSERT_EQ(sched_setaffinity(0, sizeof(all), &all), 0);
  EXPECT_EQ(pinned, 1) << "a process pinned to one CPU would start a thread per core";
}

}  // namespace
}  // namespace kubehub::net
