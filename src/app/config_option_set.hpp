#pragma once
// One command's options, registered on CLI11 from their table (src/app/config_tables.hpp): the
// flag, its environment variable, its `_FILE` variant and its help line are all derived from
// the row, and reading walks the same rows in the same order.

#include <cstddef>
#include <deque>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "src/app/config_rule.hpp"
#include "src/app/config_setting.hpp"

namespace CLI {
class App;
}

namespace gq::config_detail {

// What names an option; the tables share one between the server and a subcommand.
struct option_name {
  const char* flag;
  const char* env;        // nullptr: a flag only
  const char* type_name;  // what --help shows for the value: PORT, MS, N
};

// Whether an option's value may also be read from a file, named by ENV_FILE or --flag-file, the
// way Docker, Kubernetes and systemd hand over secrets (docs/CONFIGURATION.md, "Secrets in
// files").
enum class value_file { none, accepted };
inline constexpr const char* k_file_env_suffix = "_FILE";
inline constexpr const char* k_file_flag_suffix = "-file";

template <class Target>
struct option_row {
  option_name name;
  // "{range}" stands for the rule's bounds ("1..65535"), "{default}" for its default.
  const char* help;
  value_rule<Target> rule;
  value_file file = value_file::none;
};

// The settings of every command, in the order they were added (config_messages.hpp searches
// them), with the storage of the names derived for the `_FILE` variants.
class option_registry {
 public:
  setting& add(CLI::App& to, const option_name& name, const std::string& help,
               const std::string& default_shown, bool secret);
  // ENV_FILE and --flag-file for `s`, holding the path of the file its value is read from.
  void add_file(CLI::App& to, setting& s);

  const std::deque<setting>& settings() const { return settings_; }

 private:
  // Deques: option sets and CLI11 hold references that must stay valid as more are added.
  std::deque<setting> settings_;
  std::deque<std::string> file_names_;  // setting holds const char*
};

// `help` with "{range}" and "{default}" replaced by what they stand for.
std::string expand_help(std::string help, const std::string& range,
                        const std::string& default_text);

// The settings of one command, and where their values go.
template <class Target>
class option_set {
 public:
  option_set(CLI::App& app, option_registry& registry, std::vector<option_row<Target>> rows)
      : rows_(std::move(rows)) {
    for (const auto& row : rows_) {
      const auto& rule = row.rule;
      const auto help =
          expand_help(row.help, rule.range ? rule.range->text() : "", rule.default_text);
      auto& s = registry.add(app, row.name, help, rule.show_default ? rule.default_text : "",
                             rule.secret);
      if (row.file == value_file::accepted) registry.add_file(app, s);
      settings_.push_back(&s);
    }
  }

  // Every row's value into `target`, in the table's order: the first bad value is reported.
  void read_into(Target& target) const { read_rows(target, nullptr); }

  // The same for a subcommand whose options the main command has too (`--db x history` and
  // `history --db x`): the main command's flag counts unless the subcommand's own was given.
  template <class Parent>
  void read_into(Target& target, const option_set<Parent>& parent) const {
    read_rows(target, [&parent](std::string_view flag) { return parent.find(flag); });
  }

  // Only the rows named by `flags` (`plan` reads the server's token and API URL).
  void read_only(std::initializer_list<std::string_view> flags, Target& target) const {
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      for (const auto flag : flags) {
        if (flag == rows_[i].name.flag) rows_[i].rule.store(*settings_[i], target);
      }
    }
  }

  // The flags of secrets given on the command line, where any user of the machine can read them.
  std::vector<std::string> secrets_given_by_flag() const {
    std::vector<std::string> flags;
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      const auto& s = *settings_[i];
      if (rows_[i].rule.secret && s.from_flag() && s.raw()) flags.emplace_back(s.flag);
    }
    return flags;
  }

  const setting* find(std::string_view flag) const {
    for (const auto* s : settings_) {
      if (flag == s->flag) return s;
    }
    return nullptr;
  }

  const std::vector<option_row<Target>>& rows() const { return rows_; }

 private:
  template <class FindInParent>
  void read_rows(Target& target, FindInParent find_in_parent) const {
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      const setting* s = settings_[i];
      if constexpr (!std::is_null_pointer_v<FindInParent>) {
        const setting* in_parent = find_in_parent(s->flag);
        if (in_parent && in_parent->given_by_flag() && !s->given_by_flag()) s = in_parent;
      }
      rows_[i].rule.store(*s, target);
    }
  }

  std::vector<option_row<Target>> rows_;
  std::vector<setting*> settings_;
};

}  // namespace gq::config_detail
