#include "load/load_run.hpp"

#include <sys/resource.h>

namespace gq::bench {
namespace {

long nofile_limit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  return static_cast<long>(rl.rlim_cur);
}

}  // namespace

void raise_nofile() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

load_run::load_run(const options& opts) : o(opts) {
  const std::size_t total_conns = o.waiters + (o.prime ? lane_count(o) : 0);
  sources = o.sources > 0 ? o.sources : (total_conns > 10000 ? 4 : 1);
  interval_ns = static_cast<std::int64_t>(o.interval_ms * 1e6);
  out["label"] = o.label;
  out["mode"] = o.mode;
  out["waiters"] = o.waiters;
  out["buckets"] = o.buckets;
  out["bots"] = o.bots;
  out["interval_ms"] = o.interval_ms;
  out["shards"] = o.shards;
  out["prime"] = o.prime;
  out["sources"] = sources;
  out["client_nofile"] = nofile_limit();
}

}  // namespace gq::bench
