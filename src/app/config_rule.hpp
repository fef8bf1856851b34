#pragma once
// How the text of one option becomes a field of a command: the check and the store, together
// with what --help shows of them (the bounds, the default). They live in one value so that the
// option tables (src/app/config_tables.cpp) write each bound and each default once.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "src/app/config_setting.hpp"
#include "src/core/shard.hpp"

namespace gq::config_detail {

// The integers an option accepts, both ends included; --help shows them as "min..max".
struct bounds {
  std::uint64_t min = 0;
  std::uint64_t max = 0;

  std::string text() const { return std::to_string(min) + ".." + std::to_string(max); }
};

// An enum option's names and values, matched case-insensitively (read_choice).
template <class Enum>
using choice_list = std::vector<std::pair<std::string_view, Enum>>;

template <class Target>
struct value_rule {
  std::optional<bounds> range;  // an integer's; "{range}" in the help text
  std::string default_text;     // the field's default; "{default}" in the help text
  bool show_default = true;     // whether --help shows "=<default_text>" after the flag
  bool secret = false;          // empty counts as unset; the value is never echoed
  // Validates the setting's value, when it has one, and stores it; throws bad_value otherwise.
  std::function<void(const setting&, Target&)> store;
};

namespace rule_detail {

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
struct is_duration : std::false_type {};
template <class Rep, class Period>
struct is_duration<std::chrono::duration<Rep, Period>> : std::true_type {};

template <class T>
void assign_integer(T& target, std::uint64_t value) {
  if constexpr (is_optional<T>::value) {
    typename T::value_type inner{};
    assign_integer(inner, value);
    target = inner;
  } else if constexpr (is_duration<T>::value) {
    target = T{static_cast<typename T::rep>(value)};
  } else {
    target = static_cast<T>(value);
  }
}

// "" for an unset optional: an option whose default is "unset" shows none.
template <class T>
std::string integer_text(const T& value) {
  if constexpr (is_optional<T>::value || std::is_same_v<T, shard_id>) {
    return value ? integer_text(*value) : std::string();
  } else if constexpr (is_duration<T>::value) {
    return std::to_string(value.count());
  } else {
    return std::to_string(value);
  }
}

template <class Target, class T>
const T& default_of(T Target::*field) {
  static const Target defaults{};
  return defaults.*field;
}

// A rule with the common parts filled in: the default shown is the field's default.
template <class Target, class T, class Check>
value_rule<Target> rule_for(T Target::*field, std::string default_text, Check check) {
  return {std::nullopt, std::move(default_text), true, false,
          [field, check](const setting& s, Target& target) { check(s, target.*field); }};
}

}  // namespace rule_detail

// An integer (a count, a duration in its unit, or an optional one) within `range`.
template <class Target, class T>
value_rule<Target> integer(T Target::*field, bounds range) {
  auto rule = rule_detail::rule_for(
      field, rule_detail::integer_text(rule_detail::default_of(field)),
      [range](const setting& s, T& target) {
        if (auto raw = s.raw())
          rule_detail::assign_integer(target, integer_in(s, *raw, range.min, range.max));
      });
  rule.range = range;
  return rule;
}

// An integer without a default: its absence is an error.
template <class Target, class T>
value_rule<Target> required_integer(T Target::*field, bounds range) {
  auto rule = integer(field, range);
  rule.show_default = false;
  rule.store = [field, range](const setting& s, Target& target) {
    auto raw = s.raw();
    if (!raw) fail(s, "a value is required");
    rule_detail::assign_integer(target.*field, integer_in(s, *raw, range.min, range.max));
  };
  return rule;
}

// An integer whose flag overrides a value from elsewhere (`plan`: Discord's), while its
// environment variable only stands in for the configuration, which that value beats.
template <class Target, class T>
value_rule<Target> flag_or_config(std::optional<T> Target::*flag_field, T Target::*config_field,
                                  bounds range) {
  auto rule = integer(config_field, range);
  rule.show_default = false;  // the help text says which source wins
  rule.store = [flag_field, config_field, range](const setting& s, Target& target) {
    if (s.from_flag()) {
      rule_detail::assign_integer(target.*flag_field,
                                  integer_in(s, *s.raw(), range.min, range.max));
    } else if (auto raw = s.raw()) {
      rule_detail::assign_integer(target.*config_field, integer_in(s, *raw, range.min, range.max));
    }
  };
  return rule;
}

// One of `choices`; the default shown is the name of the field's default.
template <class Target, class Enum>
value_rule<Target> choice(Enum Target::*field, const choice_list<Enum>& choices) {
  std::string default_name;
  for (const auto& [name, value] : choices) {
    if (value == rule_detail::default_of(field)) default_name = name;
  }
  return rule_detail::rule_for(field, default_name, [choices](const setting& s, Enum& target) {
    read_choice(s, target, choices);
  });
}

// A token: never shown, and refused with a hint when it starts with its `scheme` ("Bot ").
template <class Target>
value_rule<Target> secret(std::optional<std::string> Target::*field, std::string_view scheme) {
  auto rule = rule_detail::rule_for(
      field, "", [scheme](const setting& s, auto& target) { read_secret(s, target, scheme); });
  rule.secret = true;
  return rule;
}

template <class Target>
value_rule<Target> host(std::string Target::*field) {
  return rule_detail::rule_for(field, rule_detail::default_of(field), read_host);
}

template <class Target>
value_rule<Target> api_url(std::string Target::*field) {
  return rule_detail::rule_for(field, rule_detail::default_of(field), read_api_url);
}

template <class Target>
value_rule<Target> path(std::string Target::*field) {
  return rule_detail::rule_for(field, rule_detail::default_of(field), read_path);
}

// A path with no default: unset unless given (--bots-file).
template <class Target>
value_rule<Target> path(std::optional<std::string> Target::*field) {
  return rule_detail::rule_for(field, "", [](const setting& s, std::optional<std::string>& target) {
    std::string given;
    read_path(s, given);
    if (!given.empty()) target = std::move(given);
  });
}

// A bot's name, unset unless given (`history --bot`, `plan --bot`).
template <class Target>
value_rule<Target> bot_name(std::optional<std::string> Target::*field) {
  return rule_detail::rule_for(field, "", read_bot_name);
}

// `rule`, for a field of a part of Target (history_command::filter).
template <class Target, class Part>
value_rule<Target> within(Part Target::*part, value_rule<Part> rule) {
  auto store = std::move(rule.store);
  return {rule.range, std::move(rule.default_text), rule.show_default, rule.secret,
          [part, store](const setting& s, Target& target) { store(s, target.*part); }};
}

}  // namespace gq::config_detail
