#include "load/journal_check.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "load/clock.hpp"
#include "load/journal_rows.hpp"
#include "load/stats.hpp"

namespace gq::bench {

using json = nlohmann::json;

void check_journal(load_run& run, const connection_pool& cl) {
  const options& o = run.o;
  auto& problems = run.problems;
  const std::int64_t interval_ns = run.interval_ns;
  std::string err;
  auto rows = read_journal(o.db, err);
  if (rows) rows->erase(rows->begin(), rows->begin() + std::min(o.journal_seeded, rows->size()));
  json j;
  if (!rows) {
    j["error"] = err;
    problems.push_back("journal: " + err);
  } else {
    std::size_t granted_all = 0;
    for (const auto& c : cl.conns_)
      if (c.status == 200) ++granted_all;
    j["rows"] = rows->size();
    j["client_grants"] = granted_all;
    std::size_t hung_rows = 0;
    for (const auto& r : *rows)
      if (r.shard && run.hung_shards.count(static_cast<std::uint64_t>(*r.shard))) ++hung_rows;
    j["rows_of_hung_up_waiters"] = hung_rows;
    if (rows->size() != granted_all)
      problems.push_back("journal rows (" + std::to_string(rows->size()) +
                         ") != grants received (" + std::to_string(granted_all) + ")");
    if (hung_rows)
      problems.push_back(std::to_string(hung_rows) + " journal rows for hung-up waiters");
    if (o.mode == "drain") {
      // Per lane: a bucket of one bot.
      std::map<std::pair<std::string, std::int64_t>, std::vector<const journal_row*>> per_bucket;
      for (const auto& r : *rows) per_bucket[{r.bot, r.bucket}].push_back(&r);
      std::vector<double> late, to_client, to_client_prime;
      std::int64_t first_at = INT64_MAX, last_at = INT64_MIN;
      for (auto& [b, v] : per_bucket) {
        for (std::size_t k = 0; k < v.size(); ++k) {
          const journal_row& r = *v[k];
          const conn* c = nullptr;
          if (r.shard) {
            auto it = run.by_shard.find(static_cast<std::uint64_t>(*r.shard));
            if (it != run.by_shard.end()) c = it->second;
          }
          // released_at is whole ms (the due instant, or the commit time if that was later):
          // due -> send carries up to +1 ms of rounding.
          if (c)
            (c->prime ? to_client_prime : to_client)
                .push_back(ms(c->rx_kernel_ns - r.released_at * 1'000'000));
          const bool waiter = c && !c->prime;
          if (waiter) {
            first_at = std::min(first_at, r.released_at);
            last_at = std::max(last_at, r.released_at);
          }
          if (k == 0 || !waiter) continue;
          if (c->sent_ns > 0) {
            // Same exclusion as the client side: queued only after its turn came due.
            const conn* p = nullptr;
            if (v[k - 1]->shard) {
              auto it = run.by_shard.find(static_cast<std::uint64_t>(*v[k - 1]->shard));
              if (it != run.by_shard.end()) p = it->second;
            }
            if (p && c->sent_ns > p->rx_ns + interval_ns) continue;
          }
          late.push_back(static_cast<double>(r.released_at - v[k - 1]->released_at) -
                         o.interval_ms);
        }
      }
      const stats sj = summarize(late);
      // released_at - (previous released_at of the bucket + interval). Since released_at is
      // the due instant (stamped ahead), this is not when the grant left: it is how late the
      // server saw the previous grant's write acknowledged (the next due is that + interval),
      // in whole ms. Below 0 would mean due instants closer than the interval: a pacing bug.
      j["due_spacing_excess_ms"] = stats_json(sj);
      // Kernel send time (client receive timestamp) - released_at: how late each 200 left
      // after its due instant, per grant (not accumulated). Waiters only; the prime round's
      // released_at is its commit time.
      j["due_to_send_ms"] = stats_json(summarize(to_client));
      j["prime_released_at_to_send_ms"] = stats_json(summarize(to_client_prime));
      if (first_at != INT64_MAX) j["drain_ms"] = last_at - first_at;
      if (sj.n && sj.min < 0) problems.push_back("journal: due instants closer than the interval");
    }
  }
  run.out["journal"] = j;
}

}  // namespace gq::bench
