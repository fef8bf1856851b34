// Fuzzes the interpretation of Discord's GET /gateway/bot answer (status, body, Retry-After).
// Invariants: accepted limits are within the bounds the queue can act on and round-trip through
// a rendered body; a 429 wait is clamped; the detail that reaches the log is one printable line.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "src/app/discord_client.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

constexpr int k_statuses[] = {200, 200, 200, 401, 429, 429, 500, 502, 503, 404};

std::string render(const gq::session_limits& limits, gq::unix_ms now) {
  return R"({"url":"wss://gateway.discord.gg","shards":1,"session_start_limit":{"total":)" +
         std::to_string(limits.total) + R"(,"remaining":)" + std::to_string(limits.remaining) +
         R"(,"reset_after":)" + std::to_string(limits.reset_at - now) + R"(,"max_concurrency":)" +
         std::to_string(limits.max_concurrency) + "}}";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const int status =
      in.ConsumeBool() ? in.PickValueInArray(k_statuses) : in.ConsumeIntegralInRange(100, 599);
  const std::string retry_after = in.ConsumeRandomLengthString(40);
  // A wall clock from 1970 to the year ~37000: what unix_ms can hold with room for reset_after.
  const auto now = in.ConsumeIntegralInRange<gq::unix_ms>(0, std::int64_t{1} << 50);
  const std::string body = in.ConsumeRemainingBytesAsString();

  const auto result = gq::interpret_gateway_bot(status, body, retry_after, now);
  using outcome = gq::limits_fetch::outcome;

  GQ_FUZZ_CHECK(!result.detail.empty(), "every outcome has a detail");
  for (const char c : result.detail) {
    GQ_FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f, "detail is printable");
  }
  GQ_FUZZ_CHECK(result.detail.size() <= 256, "detail is bounded");
  GQ_FUZZ_CHECK(result.result != outcome::unauthorized || status == 401, "401 only");
  GQ_FUZZ_CHECK(result.result != outcome::rate_limited || status == 429, "429 only");
  GQ_FUZZ_CHECK(result.result != outcome::ok || status == 200, "limits only from a 200");

  if (result.result == outcome::rate_limited) {
    GQ_FUZZ_CHECK(result.retry_after.count() >= 100 && result.retry_after.count() <= 3'600'000,
                  "a 429 wait is within 100 ms..1 h");
  }
  if (result.result == outcome::ok) {
    const auto& l = result.limits;
    GQ_FUZZ_CHECK(l.total >= 1 && l.remaining <= l.total, "1 <= total, remaining <= total");
    GQ_FUZZ_CHECK(l.max_concurrency >= 1 && l.max_concurrency <= 65536, "concurrency in bounds");
    GQ_FUZZ_CHECK(l.reset_at >= now && l.reset_at - now <= 7LL * 24 * 3600 * 1000,
                  "reset within a week");
    GQ_FUZZ_CHECK(l.fetched_at == now && l.source == gq::limits_source::discord,
                  "fetched now, from Discord");
    const auto again = gq::interpret_gateway_bot(200, render(l, now), "", now);
    GQ_FUZZ_CHECK(again.result == outcome::ok && again.limits == l, "limits round-trip");
  }
  return 0;
}
