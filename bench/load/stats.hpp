#pragma once
// Order statistics of a sample (lateness, spreads), and their JSON form.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <vector>

namespace gq::bench {

struct stats {
  std::size_t n = 0;
  double min = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
  std::size_t negative = 0;
};

// Percentiles by nearest rank; `negative` counts the values below 0.
stats summarize(std::vector<double> v);

// Rounded to 1 us; null for an empty sample.
nlohmann::json stats_json(const stats& s);

}  // namespace gq::bench
