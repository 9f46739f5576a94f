#include "common/net/low_priority.h"

#include <boost/asio/post.hpp>

namespace kubehub::net {

void LowPriorityQueue::push(Task task) {
  std::lock_guard lock(mu_);
  tasks_.push_back(std::move(task));
  if (!scheduled_) {
    scheduled_ = true;
    boost::asio::post(io_, [self = shared_from_this()] { self->runOne(); });
  }
}

void LowPriorityQueue::runOne() {
  Task task;
  {
    std::lock_guard lock(mu_);
    if (tasks_.empty()) {
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
      if (queue->tasks_.empty()) {
        queue->scheduled_ = false;
      } else {
        boost::asio::post(queue->io_, [self = queue->shared_from_this()] { self->runOne(); });
      }
    }
  } next{this};
  task();
}

void LowPriorityQueue::clear() {
  std::deque<Task> doomed;
  {
    std::lock_guard lock(mu_);
    doomed.swap(tasks_);
    scheduled_ = false;
  }
  // Destroyed outside the lock: a frame's destructor may push again (it then stays queued
  // until the next clear()).
}

size_t LowPriorityQueue::size() const {
  std::lock_guard lock(mu_);
  return tasks_.size();
}

}  // namespace kubehub::net
