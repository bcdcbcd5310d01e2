// A small fork-join loop over [0, n) for the CPU ops; no thread pool, because one call of an op is
// milliseconds long and a pool would outlive the Python module unloading.
#pragma once

#include <algorithm>
#include <exception>
#include <thread>
#include <vector>

namespace yolov6_edge::detail {

inline int resolve_threads(int requested) {
  if (requested > 0) return requested;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Calls fn(begin, end) on contiguous chunks; chunks smaller than min_chunk are not split off, so tiny
// inputs stay on the calling thread. The first exception thrown by a worker is rethrown here.
template <typename Fn>
void parallel_for(long n, int num_threads, long min_chunk, Fn fn) {
  if (n <= 0) return;
  long max_by_size = std::max(1L, n / std::max(1L, min_chunk));
  int threads = static_cast<int>(std::min<long>(resolve_threads(num_threads), max_by_size));
  if (threads <= 1) {
    fn(0L, n);
    return;
  }
  std::vector<std::thread> workers;
  std::vector<std::exception_ptr> errors(threads);
  long chunk = (n + threads - 1) / threads;
  for (int t = 1; t < threads; ++t) {
    long b = t * chunk, e = std::min(n, b + chunk);
    if (b >= e) break;
    workers.emplace_back([&, t, b, e] {
      try {
        fn(b, e);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  try {
    fn(0L, std::min(n, chunk));
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (auto& w : workers) w.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace yolov6_edge::detail
