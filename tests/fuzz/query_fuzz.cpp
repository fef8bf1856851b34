// Fuzzes the query-string parsers behind ?shard=, &initial=, GET /history's filters and
// POST /outcome. Invariants: every parsed number is below 2^63; a value rendered back into a query
// parses to the same value; a history filter is within its documented bounds; parse_history_filter
// and parse_outcome agree with parse_shard on the shard; an outcome's code comes only with
// `closed` and fits a close code.

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
  const auto value = std::get<gq::shard_id>(shard);
  if (!value) return;
  GQ_FUZZ_CHECK(*value <= k_max_int63, "a shard is below 2^63");
  auto again = parse_shard("shard=" + std::to_string(*value));
  GQ_FUZZ_CHECK(
      std::holds_alternative<gq::shard_id>(again) && std::get<gq::shard_id>(again) == value,
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
  GQ_FUZZ_CHECK(
      std::holds_alternative<gq::shard_id>(shard) && std::get<gq::shard_id>(shard) == filter.shard,
      "the history filter's shard is parse_shard's");

  auto again = parse_history_filter(render(filter));
  GQ_FUZZ_CHECK(std::holds_alternative<gq::history_filter>(again), "a rendered filter parses");
  const auto& reparsed = std::get<gq::history_filter>(again);
  GQ_FUZZ_CHECK(reparsed.shard == filter.shard && reparsed.since == filter.since &&
                    reparsed.until == filter.until && reparsed.limit == filter.limit,
                "a history filter round-trips");
}

void check_outcome(std::string_view query) {
  auto parsed = parse_outcome(query);
  if (const auto* error = std::get_if<query_error>(&parsed)) {
    GQ_FUZZ_CHECK(!error->message.empty(), "an error has a message");
    return;
  }
  const auto& outcome = std::get<outcome_query>(parsed);
  auto shard = parse_shard(query);
  GQ_FUZZ_CHECK(
      std::holds_alternative<gq::shard_id>(shard) && std::get<gq::shard_id>(shard) == outcome.shard,
      "the outcome's shard is parse_shard's");
  GQ_FUZZ_CHECK(
      !outcome.code || (outcome.result == gq::outcome_result::closed && *outcome.code <= 65535),
      "a code comes only with closed and fits a close code");
  std::string rendered = "shard=" + std::to_string(outcome.shard) +
                         "&result=" + std::string(gq::to_string(outcome.result));
  if (outcome.code) rendered += "&code=" + std::to_string(*outcome.code);
  auto again = parse_outcome(rendered);
  GQ_FUZZ_CHECK(std::holds_alternative<outcome_query>(again), "a rendered outcome parses");
  const auto& reparsed = std::get<outcome_query>(again);
  GQ_FUZZ_CHECK(reparsed.shard == outcome.shard && reparsed.result == outcome.result &&
                    reparsed.code == outcome.code,
                "an outcome round-trips");
}

void check_initial(std::string_view query) {
  auto parsed = parse_initial(query);
  if (const auto* error = std::get_if<query_error>(&parsed)) {
    GQ_FUZZ_CHECK(!error->message.empty(), "an error has a message");
    return;
  }
  const bool initial = std::get<bool>(parsed);
  auto again = parse_initial(initial ? "initial=true" : "initial=false");
  GQ_FUZZ_CHECK(std::holds_alternative<bool>(again) && std::get<bool>(again) == initial,
                "initial round-trips");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_number(input);
  check_shard(input);
  check_history(input);
  check_outcome(input);
  check_initial(input);
  // Every value query_values returns decoded cleanly; decoding never grows a value.
  auto values = query_values(input, "shard");
  if (const auto* list = std::get_if<std::vector<std::string>>(&values)) {
    for (const auto& value : *list) GQ_FUZZ_CHECK(value.size() <= size, "decoding never grows");
  }
  return 0;
}
