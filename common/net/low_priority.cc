#include "common/net/low_priority.h"

#include <boost/asio/post.hpp>

namespace kubehub::net {

void LowPriorityQueue::push(Task task) {
  std::unique_lock lock(mu_);
  if (closed_) {
    lock.unlock();
    return;  // `task` is destroyed here, outside the lock (its destructor may push again)
  }
  tasks_.push_back(std::move(task));
  if (!scheduled_) {
    boost::asio::post(io_, [self = shared_from_this()] { self->runOne(); });
    scheduled_ = true;  // only once posted: a throwing post() leaves the queue schedulable
  }
}

void LowPriorityQueue::runOne() {
  Task task;
  {
    std::lock_guard lock(mu_);
    if (tasks_.empty() || closed_) {
      scheduled_ = false;
      return;
    }
    task = std::move(tasks_.front());
    tasks_.pop_front();
  }
  // The next one is posted after this one ran (even if it threw), so it goes behind whatever
  // this one and the reactor's next poll make ready. scheduled_ stays true meanwhile: a push()
  // from the task does not post a second runner.
  struct ScheduleNext {
    LowPriorityQueue* queue;
    ~ScheduleNext() {
      std::lock_guard lock(queue->mu_);
      queue->scheduled_ = false;
      if (queue->tasks_.empty() || queue->closed_) return;
      try {
        boost::asio::post(queue->io_, [self = queue->shared_from_this()] { self->runOne(); });
        queue->scheduled_ = true;
      } catch (...) {
        // Out of memory: the next push() posts a runner again.
      }
    }
  } next{this};
  task();
}

void LowPriorityQueue::clear() {
  for (;;) {
    std::deque<Task> doomed;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      if (tasks_.empty()) return;
      doomed.swap(tasks_);
    }
    // Destroyed outside the lock; an abandoned coroutine posts its unwinding to this executor,
    // and push() now destroys that at once.
  }
}

size_t LowPriorityQueue::size() const {
  std::lock_guard lock(mu_);
  return tasks_.size();
}

}  // namespace kubehub::net
