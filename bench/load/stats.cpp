#include "load/stats.hpp"

#include <algorithm>
#include <cmath>

namespace gq::bench {

stats summarize(std::vector<double> v) {
  stats s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) {
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
    return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
  };
  s.min = v.front();
  s.max = v.back();
  s.p50 = pct(0.50);
  s.p90 = pct(0.90);
  s.p99 = pct(0.99);
  s.p999 = pct(0.999);
  double sum = 0;
  for (double x : v) {
    sum += x;
    if (x < 0) ++s.negative;
  }
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

nlohmann::json stats_json(const stats& s) {
  if (s.n == 0) return nullptr;
  auto r = [](double x) { return std::round(x * 1000.0) / 1000.0; };
  return {{"n", s.n},        {"min", r(s.min)},   {"p50", r(s.p50)},
          {"p90", r(s.p90)}, {"p99", r(s.p99)},   {"p999", r(s.p999)},
          {"max", r(s.max)}, {"mean", r(s.mean)}, {"negative", s.negative}};
}

}  // namespace gq::bench
