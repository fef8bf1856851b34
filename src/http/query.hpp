#pragma once
// Parsing of untrusted query strings. Every malformed input is an error with a message fit for a
// 400 body; nothing is silently defaulted except absence.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "src/core/records.hpp"
#include "src/core/shard.hpp"

namespace gq::http {

struct query_error {
  std::string message;  // e.g. "shard must be a decimal integer between 0 and 2^63-1"
};

// Values of `key` in a query string ("a=1&b=2"), percent-decoded ('+' is a space).
// A parameter with a malformed percent escape is an error.
std::variant<std::vector<std::string>, query_error> query_values(std::string_view query,
                                                                 std::string_view key);

// A non-negative decimal integer below 2^63: digits only, no sign, no spaces, no leading '+'.
// Leading zeros are allowed ("007" is 7).
std::optional<std::uint64_t> parse_non_negative(std::string_view text);

// The `shard` of a queue request: none when absent; an error when malformed, out of range,
// empty, or given twice with different values (the same value twice is accepted).
std::variant<shard_id, query_error> parse_shard(std::string_view query);

// The `initial` of a queue request (a boot, not a reconnect): "true" or "false"; absent is
// false; anything else, or two different values, is an error.
std::variant<bool, query_error> parse_initial(std::string_view query);

// The `bot` a request names: none when absent; an error when given twice with different values.
// Whether a bot of that name exists is the caller's question (404).
std::variant<std::optional<std::string>, query_error> parse_bot(std::string_view query);

// POST /outcome?shard=N&result=R[&code=C]: shard as parse_shard but required; result one of
// ready, invalid_session, closed; code (0..65535) only with closed.
struct outcome_query {
  std::uint64_t shard = 0;
  outcome_result result = outcome_result::ready;
  std::optional<std::uint32_t> code;
};
std::variant<outcome_query, query_error> parse_outcome(std::string_view query);

// The filters of GET /history: shard, since, until (unix ms, non-negative), limit (1..10000,
// default 100). Unknown parameters are ignored; malformed or repeated-with-different-values
// known ones are errors; since > until is an error. The bounds are history_filter_problem()'s,
// the check every journal backend applies too.
std::variant<history_filter, query_error> parse_history_filter(std::string_view query);

}  // namespace gq::http
