// JobGroup: counts tasks a caller handed to a ThreadPool so it can wait for
// just those (ThreadPool::Wait waits for everyone's). The destructor waits
// too, so a frame that returns early never leaves a task pointing into it.
//
// Thread safety: Add/Done/Wait may be called from any thread. Done must be
// a task's last access to anything the waiter may destroy.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace kloset {

class JobGroup {
 public:
  JobGroup() = default;
  JobGroup(const JobGroup&) = delete;
  JobGroup& operator=(const JobGroup&) = delete;
  ~JobGroup() { Wait(); }

  void Add() {
    std::lock_guard<std::mutex> l(mu_);
    n_++;
  }
  void Done() {
    std::lock_guard<std::mutex> l(mu_);
    if (--n_ == 0) cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return n_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t n_ = 0;
};

}  // namespace kloset
