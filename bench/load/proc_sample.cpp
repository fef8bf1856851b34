#include "load/proc_sample.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <vector>

#include "load/clock.hpp"

namespace gq::bench {

proc_sample sample_proc(int pid, bool count_fds) {
  proc_sample s;
  s.at_ns = steady_ns();
  if (pid <= 0) return s;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    auto value = [&](const char* key) -> std::optional<long> {
      const std::size_t n = std::strlen(key);
      if (line.compare(0, n, key) != 0) return std::nullopt;
      return std::strtol(line.c_str() + n, nullptr, 10);
    };
    if (auto v = value("VmRSS:")) s.rss_kb = *v;
    if (auto v = value("VmHWM:")) s.hwm_kb = *v;
    if (auto v = value("Threads:")) s.threads = *v;
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Field 2 (comm) may contain spaces: parse from the last ')'.
  if (auto close = all.rfind(')'); close != std::string::npos) {
    std::istringstream rest(all.substr(close + 2));
    std::vector<std::string> fields;
    std::string f;
    while (rest >> f) fields.push_back(f);
    // rest starts at field 3 (state); utime = field 14, stime = field 15.
    if (fields.size() > 13) {
      s.cpu_ticks = std::stoull(fields[11]) + std::stoull(fields[12]);
      s.ok = s.rss_kb >= 0;
    }
  }
  if (count_fds) {
    long n = 0;
    if (std::FILE* p = popen(("ls /proc/" + std::to_string(pid) + "/fd | wc -l").c_str(), "r")) {
      if (std::fscanf(p, "%ld", &n) != 1) n = -1;
      pclose(p);
    }
    s.fds = n;
    if (std::FILE* p = popen(("cat /proc/" + std::to_string(pid) + "/task/*/comm").c_str(), "r")) {
      char comm[64];
      while (std::fgets(comm, sizeof comm, p)) {
        std::string name(comm);
        while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
        ++s.thread_names[name];
      }
      pclose(p);
    }
  }
  return s;
}

nlohmann::json proc_json(const proc_sample& s) {
  if (!s.ok) return nullptr;
  nlohmann::json j{{"rss_kb", s.rss_kb},
                   {"hwm_kb", s.hwm_kb},
                   {"threads", s.threads},
                   {"cpu_ticks", s.cpu_ticks}};
  if (s.fds >= 0) j["fds"] = s.fds;
  if (!s.thread_names.empty()) j["thread_names"] = s.thread_names;
  return j;
}

}  // namespace gq::bench
