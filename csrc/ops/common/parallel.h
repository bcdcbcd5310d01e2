// A small fork-join loop over [0, n) for the CPU ops; no thread pool, because one call of an op is
// milliseconds long and a pool would outlive the Python module unloading.
#pragma once

#include <algorithm>
#include <atomic>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

namespace yolov6_edge::detail {

inline int resolve_threads(int requested) {
  if (requested > 0) return requested;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Calls fn(begin, end) on contiguous chunks; chunks smaller than min_chunk are not split off, so tiny
// inputs stay on the calling thread. The first exception thrown by fn is rethrown here.
//
// The chunks are claimed from a shared counter by the calling thread and by every worker that started. A
// worker that cannot be created (std::system_error: no memory for its stack, a thread limit) is not an
// error: the threads already running take its chunks, down to the calling thread alone. So the result never
// depends on how many workers started, and no joinable std::thread is ever destroyed (which would call
// std::terminate and abort the interpreter).
template <typename Fn>
void parallel_for(long n, int num_threads, long min_chunk, Fn fn) {
  if (n <= 0) return;
  long max_by_size = std::max(1L, n / std::max(1L, min_chunk));
  int threads = static_cast<int>(std::min<long>(resolve_threads(num_threads), max_by_size));
  if (threads <= 1) {
    fn(0L, n);
    return;
  }
  const long chunk = (n + threads - 1) / threads;
  const long chunks = (n + chunk - 1) / chunk;
  std::atomic<long> next{0};
  std::vector<std::exception_ptr> errors(threads);
  auto drain = [&](int slot) {
    try {
      for (long i = next.fetch_add(1); i < chunks; i = next.fetch_add(1)) fn(i * chunk, std::min(n, (i + 1) * chunk));
    } catch (...) {
      errors[slot] = std::current_exception();
      next.store(chunks);  // the others stop at their next claim
    }
  };
  std::vector<std::thread> workers;
  try {
    workers.reserve(threads - 1);
    for (int t = 1; t < threads && t < chunks; ++t) workers.emplace_back(drain, t);
  } catch (const std::system_error&) {
    // fewer workers than asked for: the ones running (and this thread) share the chunks
  } catch (const std::bad_alloc&) {
  }
  drain(0);
  for (auto& w : workers) w.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace yolov6_edge::detail
