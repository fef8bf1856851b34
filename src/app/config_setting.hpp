#pragma once
// One configuration setting (a flag with an optional environment variable) and the validators
// that read it into the configuration (src/app/config.hpp): each accepts exactly what
// docs/CONFIGURATION.md allows and otherwise throws bad_value with a one-line message that names
// the variable and the flag and never contains a secret's value.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace CLI {
class Option;
}

namespace gq::config_detail {

inline constexpr std::string_view k_redacted = "[redacted]";

// Thrown by the validators below and turned into exit_request{2, message} by
// parse_command_line; never leaves the configuration's files.
struct bad_value {
  std::string message;
};

// Longest value file read (VAR_FILE): a token is under 100 bytes, a PostgreSQL URI under a few
// hundred; anything larger is the wrong file (or /dev/zero).
inline constexpr std::size_t k_max_value_file_bytes = 64 * 1024;

// One command-line option with an (optional) environment fallback.
struct setting {
  const char* env = nullptr;  // nullptr for flags without an environment variable
  const char* flag = nullptr;
  bool secret = false;
  std::string value;
  CLI::Option* option = nullptr;
  // The same value read from a file named by `VAR_FILE` / `--flag-file`, the way Docker,
  // Kubernetes and systemd hand over secrets; null for settings without one. At one level (flags,
  // or else the environment) a setting and its file exclude each other.
  const setting* file = nullptr;

  // A value equal to the environment's may have come from either; then it does not matter.
  bool from_flag() const;

  // from_flag(), or the file's flag given.
  bool given_by_flag() const;

  // "ENV (--flag)", or "--flag" alone; the file's label once raw() took the value from it, so
  // that a bad token in DISCORD_TOKEN_FILE is reported as that file's.
  std::string label() const;

  // The value to validate, or nullopt for "use the default". CLI11 ignores an empty environment
  // variable; we do not, so that `PORT=` is an error instead of a silent default. An empty secret
  // counts as unset: docker-compose's `DISCORD_TOKEN=${DISCORD_TOKEN}` yields one when unset.
  // With a file: its contents, one trailing newline dropped; an unreadable, empty or oversized
  // file, or a value given both ways at one level, fails naming the variable.
  std::optional<std::string> raw() const;

  // Set by raw(): whether the value it returned came from the file (for label()).
  mutable bool read_from_file = false;

 private:
  std::optional<std::string> direct_raw() const;
  std::string read_value_file() const;  // called on the file's setting
};

// Quotes a value for an error line: printable ASCII as is, everything else escaped, so the
// message stays one line whatever the value holds.
std::string quote_value(std::string_view value);

// CLI11's own messages, and the names of unknown flags, quote arguments raw; a newline or an
// escape sequence in one would split the error over lines or drive the terminal, and bytes
// beyond ASCII could be a mistyped secret. Escapes what quote_value escapes; every exit-2 message
// goes through it.
std::string one_printable_line(std::string_view message);

// Throws bad_value{"invalid <label>: <what>"}.
[[noreturn]] void fail(const setting& s, const std::string& what);

std::string lowercase(std::string text);

// `text` as an integer in [min, max] (digits only, leading zeros allowed, as in the query
// string); otherwise fails naming `s`.
std::uint64_t integer_in(const setting& s, const std::string& text, std::uint64_t min,
                         std::uint64_t max);

// Matches case-insensitively: `INFO` in an environment file means what `info` means.
template <class Enum>
void read_choice(const setting& s, Enum& target,
                 const std::vector<std::pair<std::string_view, Enum>>& choices) {
  auto raw = s.raw();
  if (!raw) return;
  const std::string wanted = lowercase(*raw);
  std::string names;
  for (const auto& [name, choice] : choices) {
    if (wanted == name) {
      target = choice;
      return;
    }
    names += names.empty() ? "" : ", ";
    names += name;
  }
  fail(s, quote_value(*raw) + " is not one of " + names);
}

// Never echoes the value: the line goes to stderr and into whatever collects it. A value that
// starts with `scheme` is refused with a hint to give it without that prefix.
void read_secret(const setting& s, std::optional<std::string>& target, std::string_view scheme);

// Deliberately loose: an IPv4/IPv6 literal or a host name; the bind reports anything subtler.
void read_host(const setting& s, std::string& target);

// http(s)://host[:port][/path], by the Discord client's own parser; never with credentials.
void read_api_url(const setting& s, std::string& target);

// Any non-empty path.
void read_path(const setting& s, std::string& target);

// A bot's name as the bots file writes it ([a-z0-9_-]{1,32}, src/core/bot.hpp).
void read_bot_name(const setting& s, std::optional<std::string>& target);

}  // namespace gq::config_detail
