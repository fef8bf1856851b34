#include "src/http/query.hpp"

namespace gq::http {

namespace {

constexpr std::uint64_t k_max_value = k_max_stored_integer;
// Digits of k_max_value: any longer number (leading zeros stripped) is out of range, and any
// number this long or shorter fits in a uint64_t while it is accumulated.
constexpr std::size_t k_max_digits = 19;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding: "%XX" is a byte, '+' is a space.
std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c != '%') {
      out.push_back(c);
    } else {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = hex_digit(text[i + 1]);
      const int low = hex_digit(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    }
  }
  return out;
}

// The values of `key`, each parsed as a non-negative integer; nullopt when the key is absent.
// All values must agree, so that "shard=3&shard=3" is 3 while "shard=3&shard=4" is refused
// instead of picking one silently.
std::variant<std::optional<std::uint64_t>, query_error> single_integer(
    std::string_view query, std::string_view key, const std::string& malformed_message) {
  auto values = query_values(query, key);
  if (auto* error = std::get_if<query_error>(&values)) return std::move(*error);
  std::optional<std::uint64_t> result;
  for (const auto& text : std::get<std::vector<std::string>>(values)) {
    const auto value = parse_non_negative(text);
    if (!value) return query_error{malformed_message};
    if (result && *result != *value) {
      return query_error{std::string(key) + " given twice with different values"};
    }
    result = value;
  }
  return result;
}

// The one value of `key`, nullopt when absent; given twice it must be the same both times.
std::variant<std::optional<std::string>, query_error> single_value(std::string_view query,
                                                                   std::string_view key) {
  auto values = query_values(query, key);
  if (auto* error = std::get_if<query_error>(&values)) return std::move(*error);
  std::optional<std::string> result;
  for (auto& text : std::get<std::vector<std::string>>(values)) {
    if (result && *result != text)
      return query_error{std::string(key) + " given twice with different values"};
    result = std::move(text);
  }
  return result;
}

// `what` says what the number means, e.g. "a unix time in milliseconds, ".
std::string integer_message(std::string_view key, std::string_view what) {
  return std::string(key) + " must be " + std::string(what) + "a decimal integer from 0 to " +
         std::to_string(k_max_value);
}

}  // namespace

std::variant<std::vector<std::string>, query_error> query_values(std::string_view query,
                                                                 std::string_view key) {
  std::vector<std::string> values;
  while (!query.empty()) {
    const std::size_t end = query.find('&');
    const std::string_view param = query.substr(0, end);
    query = end == std::string_view::npos ? std::string_view{} : query.substr(end + 1);
    if (param.empty()) continue;

    const std::size_t equals = param.find('=');
    const std::string_view raw_name = param.substr(0, equals);
    const std::string_view raw_value =
        equals == std::string_view::npos ? std::string_view{} : param.substr(equals + 1);
    // A name that does not decode cannot be `key`; like any unknown parameter it is ignored.
    const auto name = percent_decode(raw_name);
    if (!name || *name != key) continue;
    auto value = percent_decode(raw_value);
    if (!value) {
      return query_error{"malformed percent-encoding in query parameter " + std::string(key)};
    }
    values.push_back(std::move(*value));
  }
  return values;
}

std::variant<std::optional<std::string>, query_error> parse_bot(std::string_view query) {
  return single_value(query, "bot");
}

std::optional<std::uint64_t> parse_non_negative(std::string_view text) {
  if (text.empty()) return std::nullopt;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  const std::size_t first_significant = text.find_first_not_of('0');
  if (first_significant == std::string_view::npos) return 0;
  text.remove_prefix(first_significant);
  if (text.size() > k_max_digits) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : text) value = value * 10 + static_cast<std::uint64_t>(c - '0');
  if (value > k_max_value) return std::nullopt;
  return value;
}

std::variant<shard_id, query_error> parse_shard(std::string_view query) {
  auto shard = single_integer(query, "shard", integer_message("shard", ""));
  if (auto* error = std::get_if<query_error>(&shard)) return std::move(*error);
  const auto given = std::get<std::optional<std::uint64_t>>(shard);
  return given ? shard_id{*given} : shard_id{};
}

std::variant<bool, query_error> parse_initial(std::string_view query) {
  auto value = single_value(query, "initial");
  if (auto* error = std::get_if<query_error>(&value)) return std::move(*error);
  const auto& text = std::get<std::optional<std::string>>(value);
  if (!text || *text == "false") return false;
  if (*text == "true") return true;
  return query_error{"initial must be true or false"};
}

std::variant<outcome_query, query_error> parse_outcome(std::string_view query) {
  outcome_query result;
  auto shard = parse_shard(query);
  if (auto* error = std::get_if<query_error>(&shard)) return std::move(*error);
  const auto given_shard = std::get<shard_id>(shard);
  if (!given_shard) return query_error{"shard is required"};
  result.shard = *given_shard;

  auto value = single_value(query, "result");
  if (auto* error = std::get_if<query_error>(&value)) return std::move(*error);
  const auto& text = std::get<std::optional<std::string>>(value);
  const auto parsed = text ? parse_outcome_result(*text) : std::nullopt;
  if (!parsed) return query_error{"result must be ready, invalid_session or closed"};
  result.result = *parsed;

  auto code = single_integer(query, "code", "code must be a decimal integer from 0 to 65535");
  if (auto* error = std::get_if<query_error>(&code)) return std::move(*error);
  if (const auto given = std::get<std::optional<std::uint64_t>>(code)) {
    if (*given > 65535) return query_error{"code must be a decimal integer from 0 to 65535"};
    if (result.result != outcome_result::closed)
      return query_error{"code goes only with result=closed"};
    result.code = static_cast<std::uint32_t>(*given);
  }
  return result;
}

std::variant<history_filter, query_error> parse_history_filter(std::string_view query) {
  history_filter filter;

  auto shard = parse_shard(query);
  if (auto* error = std::get_if<query_error>(&shard)) return std::move(*error);
  filter.shard = std::get<shard_id>(shard);

  for (const auto& [key, target] :
       {std::pair{"since", &filter.since}, std::pair{"until", &filter.until}}) {
    auto time = single_integer(query, key, integer_message(key, "a unix time in milliseconds, "));
    if (auto* error = std::get_if<query_error>(&time)) return std::move(*error);
    // parse_non_negative caps values at 2^63-1, so they fit unix_ms (int64) unchanged.
    if (const auto value = std::get<std::optional<std::uint64_t>>(time)) {
      *target = static_cast<unix_ms>(*value);
    }
  }

  // A limit that is no number gets the message of one out of range: the shared check's.
  history_filter no_rows;
  no_rows.limit = 0;
  const std::string limit_message = *history_filter_problem(no_rows);
  auto limit = single_integer(query, "limit", limit_message);
  if (auto* error = std::get_if<query_error>(&limit)) return std::move(*error);
  if (const auto value = std::get<std::optional<std::uint64_t>>(limit)) {
    // Out of range values become 0, which the shared check refuses with the same message.
    filter.limit = *value <= history_filter::k_max_limit ? static_cast<std::uint32_t>(*value) : 0;
  }

  // The bounds are checked where every reader of the journal checks them.
  if (auto problem = history_filter_problem(filter)) return query_error{std::move(*problem)};
  return filter;
}

}  // namespace gq::http
