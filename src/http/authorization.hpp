#pragma once
// The bearer check behind QUEUE_AUTH_TOKEN (RFC 6750 over RFC 7235's Authorization header).

#include <optional>
#include <string_view>

namespace gq::http {

// True when `header` (the Authorization value, trailing white space already trimmed) is
// `Bearer <expected>`: the scheme in any case (RFC 7235: schemes are case-insensitive), one or
// more spaces, then exactly the token. The token itself is compared in constant time, so the
// answer's timing does not tell how much of a guess was right. An empty `expected` matches nothing.
bool bearer_matches(std::string_view header, std::string_view expected);

// The token of `Bearer <token>` (the scheme in any case, one or more spaces), or none.
std::optional<std::string_view> bearer_token(std::string_view header);

}  // namespace gq::http
