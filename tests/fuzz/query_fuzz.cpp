// Fuzzes the query-string parsers behind ?shard= and GET /history's filters.
// Invariants: every parsed number is below 2^63; a value rendered back into a query parses to
// the same value; a history filter is within its documented bounds; parse_history_filter agrees
// with parse_shard on the shard.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>

#include "src/http/query.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using namespace gq::http;

constexpr std::uint64_t k_max_int63 = std::numeric_limits<std::int64_t>::max();

std::string render(const gq::history_filter& filter) {
  std::string query = "limit=" + std::to_string(filter.limit);
  if (filter.shard) query += "&shard=" + std::to_string(*filter.shard);
  if (filter.since) query += "&since=" + std::to_string(*filter.since);
  if (filter.until) query += "&until=" + std::to_string(*filter.until);
  return query;
}

void check_number(std::string_view text) {
  const auto value = parse_non_negative(text);
  if (!value) return;
  GQ_FUZZ_CHECK(*value <= k_max_int63, "a parsed number is below 2^63");
  const std::size_t first = text.find_first_not_of('0');
  const std::string_view significant =
      first == std::string_view::npos ? std::string_view("0") : text.substr(first);
  GQ_FUZZ_CHECK(std::to_string(*value) == significant, "a number renders as it was written");
}

void check_shard(std::string_view query) {
  auto shard = parse_shard(query);
  if (const auto* error = std::get_if<query_error>(&shard)) {
    GQ_FUZZ_CHECK(!error->message.empty(), "an error has a message");
    return;
  }
  const auto value = std::get<std::optional<std::uint64_t>>(shard);
  if (!value) return;
  GQ_FUZZ_CHECK(*value <= k_max_int63, "a shard is below 2^63");
  auto again = parse_shard("shard=" + std::to_string(*value));
  GQ_FUZZ_CHECK(std::holds_alternative<std::optional<std::uint64_t>>(again) &&
                    std::get<std::optional<std::uint64_t>>(again) == value,
                "a shard round-trips");
}

void check_history(std::string_view query) {
  auto parsed = parse_history_filter(query);
  if (const auto* error = std::get_if<query_error>(&parsed)) {
    GQ_FUZZ_CHECK(!error->message.empty(), "an error has a message");
    return;
  }
  const auto& filter = std::get<gq::history_filter>(parsed);
  GQ_FUZZ_CHECK(filter.limit >= 1 && filter.limit <= gq::history_filter::k_max_limit,
                "limit within 1..k_max_limit");
  GQ_FUZZ_CHECK(!filter.since || *filter.since >= 0, "since is non-negative");
  GQ_FUZZ_CHECK(!filter.until || *filter.until >= 0, "until is non-negative");
  GQ_FUZZ_CHECK(!filter.since || !filter.until || *filter.since <= *filter.until,
                "since is not after until");
  auto shard = parse_shard(query);
  GQ_FUZZ_CHECK(std::holds_alternative<std::optional<std::uint64_t>>(shard) &&
                    std::get<std::optional<std::uint64_t>>(shard) == filter.shard,
                "the history filter's shard is parse_shard's");

  auto again = parse_history_filter(render(filter));
  GQ_FUZZ_CHECK(std::holds_alternative<gq::history_filter>(again),
                "a rendered filter parses");
  const auto& reparsed = std::get<gq::history_filter>(again);
  GQ_FUZZ_CHECK(reparsed.shard == filter.shard && reparsed.since == filter.since &&
                    reparsed.until == filter.until && reparsed.limit == filter.limit,
                "a history filter round-trips");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_number(input);
  check_shard(input);
  check_history(input);
  // Every value query_values returns decoded cleanly; decoding never grows a value.
  auto values = query_values(input, "shard");
  if (const auto* list = std::get_if<std::vector<std::string>>(&values)) {
    for (const auto& value : *list) GQ_FUZZ_CHECK(value.size() <= size, "decoding never grows");
  }
  return 0;
}
