#pragma once
// The server's resident memory, threads, CPU time and file descriptors, read from /proc/PID.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace gq::bench {

struct proc_sample {
  long rss_kb = -1;
  long hwm_kb = -1;
  long threads = -1;
  std::uint64_t cpu_ticks = 0;  // utime + stime
  long fds = -1;
  std::map<std::string, int> thread_names;  // /proc/PID/task/*/comm
  std::int64_t at_ns = 0;
  bool ok = false;
};

// A sample of process `pid` (not ok when pid <= 0 or /proc cannot be read). count_fds also counts
// open descriptors and threads by name, which costs two shell commands.
proc_sample sample_proc(int pid, bool count_fds);

// The sample as JSON; null when it is not ok.
nlohmann::json proc_json(const proc_sample& s);

}  // namespace gq::bench
