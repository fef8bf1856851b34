#include "src/app/probe_command.hpp"

#include <arpa/inet.h>
#include <httplib.h>

#include <cstring>
#include <iostream>

namespace gq {

std::string probe_target(const std::string& host) {
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1 && v4.s_addr == htonl(INADDR_ANY))
    return "127.0.0.1";
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1 && std::memcmp(&v6, &in6addr_any, sizeof v6) == 0)
    return "::1";
  return host;
}

namespace {

std::string describe(httplib::Error error, std::chrono::milliseconds timeout) {
  const auto limit = std::to_string(timeout.count()) + " ms";
  switch (error) {
    case httplib::Error::Connection:
      return "cannot connect (refused or unreachable)";
    case httplib::Error::ConnectionTimeout:
      return "no connection within " + limit;
    case httplib::Error::Read:
      return "no answer within " + limit + ", or the connection closed";
    case httplib::Error::Write:
      return "cannot send the request";
    default:
      return "failed (" + httplib::to_string(error) + ")";
  }
}

}  // namespace

int run_probe_command(const probe_command& request) {
  const auto target = probe_target(request.host);
  const bool v6 = target.find(':') != std::string::npos;
  const std::string path = request.ready ? "/ready" : "/health";
  const std::string url = "http://" + (v6 ? "[" + target + "]" : target) + ":" +
                          std::to_string(request.port) + path;
  const auto seconds = request.timeout.count() / 1000;
  const auto micros = (request.timeout.count() % 1000) * 1000;
  httplib::Client client(target, request.port);
  client.set_connection_timeout(seconds, micros);
  client.set_read_timeout(seconds, micros);
  client.set_write_timeout(seconds, micros);
  client.set_keep_alive(false);
  auto result = client.Get(path);
  if (!result) {
    std::cerr << "gateway-queue probe: GET " << url << ": "
              << describe(result.error(), request.timeout) << "\n";
    return 1;
  }
  if (result->status != 200) {
    std::cerr << "gateway-queue probe: GET " << url << " answered " << result->status << "\n";
    return 1;
  }
  return 0;
}

}  // namespace gq
