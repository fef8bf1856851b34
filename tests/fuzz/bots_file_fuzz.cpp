// Fuzzes the bots file reader (QUEUE_BOTS_FILE): a TOML text and the four token files it may
// name (d1, d2: Discord tokens; a1, a2: auth tokens, one per line), all from the input.
//
// Invariants: a file that is accepted holds valid, unique names, every value within its bounds,
// no Discord token or auth token of two bots, no auth token that is the operator's; a refusal
// is one printable line naming the file, and never contains a token. Every token carries a
// marker the TOML text cannot hold, so a message with the marker echoed a token.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "src/app/bots_file.hpp"
#include "src/app/config.hpp"
#include "src/core/bot.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

constexpr const char* k_marker = "Q7secretZ";
constexpr const char* k_token_files[] = {"d1", "d2", "a1", "a2"};

// Under TMPDIR, which scripts/fuzz.sh points into the build directory and empties.
const std::filesystem::path& directory() {
  static const std::filesystem::path made = [] {
    auto pattern = (std::filesystem::temp_directory_path() / "gq-bots-file-fuzz.XXXXXX").string();
    const char* dir = mkdtemp(pattern.data());
    GQ_FUZZ_CHECK(dir != nullptr, "a scratch directory");
    return std::filesystem::path(dir);
  }();
  return made;
}

void write(const std::string& name, const std::string& text) {
  std::ofstream(directory() / name, std::ios::binary | std::ios::trunc) << text;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  // Each token file: the marker, then what the input gives (possibly the same as another
  // file's, possibly with spaces, newlines or control bytes, which the reader must refuse).
  for (const char* file : k_token_files) write(file, k_marker + in.ConsumeRandomLengthString(40));
  const std::string operator_token = std::string(k_marker) + "operator";
  const bool with_operator = in.ConsumeBool();
  const std::string toml = in.ConsumeRemainingBytesAsString();
  if (contains(toml, k_marker)) return 0;  // the text may quote itself; tokens live elsewhere
  const auto path = (directory() / "bots.toml").string();
  write("bots.toml", toml);

  const auto result = gq::read_bots_file(
      path, with_operator ? std::optional<std::string>(operator_token) : std::nullopt);

  if (const auto* message = std::get_if<std::string>(&result)) {
    GQ_FUZZ_CHECK(message->starts_with("QUEUE_BOTS_FILE " + path + ": "), "names the file");
    for (const char c : *message) {
      GQ_FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f, "one printable line");
    }
    GQ_FUZZ_CHECK(!contains(*message, k_marker), "a refusal never contains a token");
    return 0;
  }

  const auto& bots = std::get<std::vector<gq::bot_settings>>(result);
  GQ_FUZZ_CHECK(!bots.empty(), "an accepted file has a bot");
  std::set<std::string> names, discord_tokens, auth_tokens;
  for (const auto& bot : bots) {
    GQ_FUZZ_CHECK(gq::valid_bot_name(bot.name), "a valid name");
    GQ_FUZZ_CHECK(names.insert(bot.name).second, "names are unique");
    if (bot.discord_token) {
      GQ_FUZZ_CHECK(contains(*bot.discord_token, k_marker), "a Discord token from its file");
      GQ_FUZZ_CHECK(discord_tokens.insert(*bot.discord_token).second,
                    "no Discord token of two bots");
    }
    for (const auto& token : bot.auth_tokens) {
      GQ_FUZZ_CHECK(!token.empty() && token.find_first_of(" \t\r\n") == std::string::npos,
                    "an auth token without whitespace");
      GQ_FUZZ_CHECK(auth_tokens.insert(token).second, "no auth token of two bots");
      GQ_FUZZ_CHECK(!with_operator || token != operator_token, "no bot holds the operator's");
    }
    GQ_FUZZ_CHECK(
        !bot.max_concurrency || (*bot.max_concurrency >= 1 && *bot.max_concurrency <= 65536),
        "max_concurrency in bounds");
    GQ_FUZZ_CHECK(!bot.daily_limit || (*bot.daily_limit >= 1 && *bot.daily_limit <= 10'000'000),
                  "daily_limit in bounds");
    GQ_FUZZ_CHECK(!bot.identify_interval || (bot.identify_interval->count() >= 1 &&
                                             bot.identify_interval->count() <= 86'400'000),
                  "identify_interval_ms in bounds");
  }
  return 0;
}
