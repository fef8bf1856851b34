// Fuzzes the incremental HTTP/1.1 request parser the way a connection feeds it: a byte stream,
// possibly holding several pipelined requests, arriving in reads of any size.
//
// Input: the first 8 bytes seed the read sizes (so a crash reproduces from the input alone),
// the next 2 pick the limits (small limits reach the 413/414/431 paths), the rest is the stream.
// Invariants: the parser consumes what it is given and no more; a completed request is in origin
// form and within the limits; a failure is a 4xx it documents and is final; and the requests
// parsed, and whether the stream is refused, do not depend on how it was split (one read gives
// the same as many).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "src/http/request_parser.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using gq::http::request_limits;
using gq::http::request_parser;

// What the parser produced, as one comparable line per request or outcome.
using transcript = std::vector<std::string>;

// splitmix64: a deterministic stream of read sizes from the seed in the input.
struct read_sizes {
  std::uint64_t state;
  std::size_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    // Mostly tiny reads (1-8 bytes split every token), sometimes large ones.
    return (z & 7) != 0 ? 1 + (z >> 8) % 8 : 1 + (z >> 8) % 512;
  }
};

void check_request(const request_parser& parser, const request_limits& limits) {
  const auto& r = parser.current();
  GQ_FUZZ_CHECK(!r.method.empty(), "a complete request has a method");
  GQ_FUZZ_CHECK(!r.path.empty() && r.path.front() == '/', "a complete request is in origin form");
  GQ_FUZZ_CHECK(r.path.size() + r.query.size() <= limits.max_url, "URL within max_url");
  GQ_FUZZ_CHECK(r.authorization.size() <= limits.max_header_bytes, "headers within the limit");
  GQ_FUZZ_CHECK(
      r.authorization.empty() || (r.authorization.back() != ' ' && r.authorization.back() != '\t'),
      "Authorization has no trailing whitespace");
}

std::string describe(const request_parser& parser) {
  const auto& r = parser.current();
  return r.method + ' ' + r.path + " ?" + r.query + " auth=" + r.authorization +
         (r.keep_alive ? " keep-alive" : " close");
}

// Feeds one read. Returns false once the parser has failed (the connection would close).
bool feed_read(request_parser& parser, const request_limits& limits, std::string_view data,
               transcript& out) {
  while (true) {
    const auto result = parser.feed(data);
    GQ_FUZZ_CHECK(result.consumed <= data.size(), "consumed no more than given");
    data.remove_prefix(result.consumed);
    switch (result.status) {
      case request_parser::state::need_more:
        GQ_FUZZ_CHECK(data.empty(), "need_more consumes the whole read");
        return true;
      case request_parser::state::complete:
        check_request(parser, limits);
        out.push_back(describe(parser));
        parser.next();
        if (data.empty()) return true;
        break;
      case request_parser::state::failed: {
        const int status = parser.error_status();
        GQ_FUZZ_CHECK(status == 400 || status == 413 || status == 414 || status == 431,
                      "a failure is 400, 413, 414 or 431");
        GQ_FUZZ_CHECK(!parser.error_reason().empty(), "a failure has a reason");
        const auto again = parser.feed("GET / HTTP/1.1\r\n\r\n");
        GQ_FUZZ_CHECK(again.status == request_parser::state::failed && again.consumed == 0,
                      "a failure is final");
        // Not the status: a request that is both malformed and over a limit gets whichever
        // error http_parser reaches first, and where a read ends decides that (it reports a
        // header piece at the end of each read, an invalid byte only when it gets there).
        out.push_back("failed");
        return false;
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 10) return 0;
  std::uint64_t seed = 0;
  std::memcpy(&seed, data, sizeof seed);
  const std::uint8_t limit_bits = data[8];
  const std::uint8_t limit_scale = data[9];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 10, size - 10);

  request_limits limits;  // the defaults unless the input asks for small ones
  if (limit_bits & 1) limits.max_url = 1 + limit_scale % 64;
  if (limit_bits & 2) limits.max_header_bytes = 1 + limit_scale % 128;
  if (limit_bits & 4) limits.max_body = limit_scale % 32;

  transcript whole;
  {
    request_parser parser(limits);
    feed_read(parser, limits, stream, whole);
  }

  transcript split;
  {
    request_parser parser(limits);
    read_sizes sizes{seed};
    std::string_view rest = stream;
    while (!rest.empty()) {
      const std::size_t n = std::min(rest.size(), sizes.next());
      if (!feed_read(parser, limits, rest.substr(0, n), split)) break;
      rest.remove_prefix(n);
    }
  }
  if (whole != split) {
    for (const auto& line : whole) std::fprintf(stderr, "one read:   %s\n", line.c_str());
    for (const auto& line : split) std::fprintf(stderr, "many reads: %s\n", line.c_str());
  }
  GQ_FUZZ_CHECK(whole == split, "the same requests whatever the read sizes");
  return 0;
}
