#include "storage/errors.hpp"

#include "storage/journal.hpp"

namespace gq::storage::detail {

std::string error_text(std::string_view location, std::string_view what, std::string_view reason) {
  std::string text = "journal ";
  text.append(location).append(": ").append(what).append(": ").append(reason);
  return text;
}

void fail(std::string_view location, std::string_view what, std::string_view reason) {
  throw journal_error(error_text(location, what, reason));
}

void check_history_filter(std::string_view location, const history_filter& filter) {
  if (auto problem = history_filter_problem(filter)) fail(location, "querying grants", *problem);
}

}  // namespace gq::storage::detail
