// The pool runs every index once, on threads it started once, finishes a call
// without workers, and rethrows the failure of the lowest index after all ran;
// Beside runs two pieces of work at the same time.
#include "common/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace mpsbatch {

TEST(ThreadPool, EveryIndexRunsOnce) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.size(), 3);
  std::vector<std::atomic<int>> runs(1000);
  pool.ForEach(runs.size(), [&](size_t i) { ++runs[i]; });
  for (size_t i = 0; i < runs.size(); ++i) EXPECT_EQ(runs[i].load(), 1) << i;
  pool.ForEach(0, [](size_t) { FAIL() << "no index to run"; });
}

// The work lands on the pool's workers and the caller, the same threads call
// after call.
TEST(ThreadPool, CallsShareTheSameThreads) {
  ThreadPool pool(2);
  std::mutex mu;
  std::set<std::thread::id> seen;
  for (int call = 0; call < 20; ++call)
    pool.ForEach(6, [&](size_t) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::lock_guard lock(mu);
      seen.insert(std::this_thread::get_id());
    });
  EXPECT_LE(seen.size(), 3u);
  EXPECT_TRUE(seen.count(std::this_thread::get_id()));
}

TEST(ThreadPool, WithoutWorkersTheCallerRunsEverything) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), 0);
  const auto caller = std::this_thread::get_id();
  int sum = 0;
  pool.ForEach(10, [&](size_t i) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    sum += static_cast<int>(i);
  });
  EXPECT_EQ(sum, 45);
}

TEST(ThreadPool, TheLowestFailingIndexIsRethrownAfterAllRan) {
  ThreadPool pool(3);
  std::atomic<int> ran{0};
  try {
    pool.ForEach(8, [&](size_t i) {
      ++ran;
      if (i == 2 || i == 5) throw std::runtime_error("index " + std::to_string(i));
    });
    FAIL() << "expected the failure of index 2";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "index 2");
  }
  EXPECT_EQ(ran.load(), 8);
  int after = 0;
  pool.ForEach(4, [&](size_t) { ++after; });  // the pool still works
  EXPECT_EQ(after, 4);
}

// A call finishes while every worker is busy with another caller's long
// task: the caller does its indices itself.
TEST(ThreadPool, ACallFinishesWhileEveryWorkerIsBusy) {
  ThreadPool pool(1);
  std::atomic<bool> release{false};
  std::jthread other([&] {
    pool.ForEach(2, [&](size_t) {  // holds the worker and the other caller
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::atomic<int> done{0};
  pool.ForEach(3, [&](size_t) { ++done; });
  EXPECT_EQ(done.load(), 3);
  release = true;
}

// Beside: `there` runs on a worker while the caller runs `here`; the
// caller's failure comes first; without workers both run on the caller.
TEST(ThreadPool, BesideRunsTheOtherWorkAtTheSameTime) {
  ThreadPool pool(1);
  std::atomic<bool> there_started{false};
  std::thread::id here_thread, there_thread;
  pool.Beside(
      [&] {
        here_thread = std::this_thread::get_id();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!there_started && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
        EXPECT_TRUE(there_started) << "`there` did not start while `here` ran";
      },
      [&] {
        there_thread = std::this_thread::get_id();
        there_started = true;
      });
  EXPECT_EQ(here_thread, std::this_thread::get_id());
  EXPECT_NE(there_thread, std::this_thread::get_id());

  auto failure = [&](bool here_throws, bool there_throws) -> std::string {
    try {
      pool.Beside(
          [&] {
            if (here_throws) throw std::runtime_error("here");
          },
          [&] {
            if (there_throws) throw std::runtime_error("there");
          });
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(failure(true, true), "here");
  EXPECT_EQ(failure(false, true), "there");
  EXPECT_EQ(failure(false, false), "");

  ThreadPool none(0);
  std::vector<std::string> order;
  none.Beside([&] { order.push_back("here"); }, [&] { order.push_back("there"); });
  EXPECT_EQ(order, (std::vector<std::string>{"here", "there"}));
}

}  // namespace mpsbatch
