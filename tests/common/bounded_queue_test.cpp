#include "common/bounded_queue.h"

#include <gtest/gtest.h>

#include <thread>

namespace mpsbatch {

TEST(BoundedQueue, FifoOrderAcrossThreads) {
  BoundedQueue<int> q(2);
  std::thread producer([&] {
    for (int i = 0; i < 1000; ++i) q.Push(i);
    q.Close();
  });
  int expected = 0;
  while (auto v = q.Pop()) EXPECT_EQ(*v, expected++);
  producer.join();
  EXPECT_EQ(expected, 1000);
}

TEST(BoundedQueue, PushBlocksWhileFull) {
  BoundedQueue<int> q(1);
  q.Push(1);
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    q.Push(2);
    pushed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(pushed);
  EXPECT_EQ(q.Pop(), 1);
  producer.join();
  EXPECT_TRUE(pushed);
  EXPECT_EQ(q.TryPop(), 2);
}

TEST(BoundedQueue, CloseWakesWaitersAndRejectsPushes) {
  BoundedQueue<int> q(1);
  std::thread consumer([&] { EXPECT_FALSE(q.Pop().has_value()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  q.Close();
  consumer.join();
  EXPECT_FALSE(q.Push(3));
}

TEST(BoundedQueue, PopForTimesOut) {
  BoundedQueue<int> q(1);
  EXPECT_FALSE(q.PopFor(std::chrono::microseconds(1000)).has_value());
}

// A look at the oldest item leaves it there; on an empty queue it waits for a
// push, or gives up.
TEST(BoundedQueue, WithFrontForLooksWithoutTaking) {
  BoundedQueue<int> q(2);
  int seen = -1;
  EXPECT_FALSE(q.WithFrontFor(std::chrono::microseconds(1000), [&](int v) { seen = v; }));
  EXPECT_EQ(seen, -1);
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    q.Push(7);
  });
  EXPECT_TRUE(q.WithFrontFor(std::chrono::seconds(10), [&](int v) { seen = v; }));
  producer.join();
  EXPECT_EQ(seen, 7);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.Pop(), 7);
}

}  // namespace mpsbatch
