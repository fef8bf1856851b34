#include "src/http/authorization.hpp"

#include <cctype>

namespace gq::http {

namespace {

constexpr std::string_view k_scheme = "bearer";

// Compares without an early exit: the time taken depends on the lengths only.
bool equal_constant_time(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i % (b.empty() ? 1 : b.size())];
  return diff == 0 && !b.empty();
}

bool has_scheme(std::string_view header) {
  if (header.size() <= k_scheme.size()) return false;
  for (std::size_t i = 0; i < k_scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != k_scheme[i]) return false;
  }
  return header[k_scheme.size()] == ' ';
}

}  // namespace

std::optional<std::string_view> bearer_token(std::string_view header) {
  if (!has_scheme(header)) return std::nullopt;
  header.remove_prefix(k_scheme.size());
  const auto token_start = header.find_first_not_of(' ');
  if (token_start == std::string_view::npos) return std::nullopt;
  return header.substr(token_start);
}

bool bearer_matches(std::string_view header, std::string_view expected) {
  const auto token = bearer_token(header);
  return token && equal_constant_time(*token, expected);
}

}  // namespace gq::http
