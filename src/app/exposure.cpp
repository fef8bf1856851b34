#include "src/app/exposure.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace gq {

bool is_loopback_host(std::string_view host) {
  std::string text(host);
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (text == "localhost" || text == "localhost.") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

std::optional<std::string> exposure_warning(const server_config& config) {
  if (config.auth_token || is_loopback_host(config.host)) return std::nullopt;
  return "UNPROTECTED: listening on " + config.host +
         " (not loopback) with QUEUE_AUTH_TOKEN unset: anyone who can reach this port can fill "
         "the queue, spend the bot's daily session starts and read the grant history. Set "
         "QUEUE_AUTH_TOKEN, or bind HOST to 127.0.0.1 behind a proxy; see docs/SECURITY.md";
}

}  // namespace gq
