#pragma once
// The text of every journal_error, and the refusals the journal's interface makes before any
// backend is asked (storage/journal.cpp), each written once. Internal to storage/.

#include <string>
#include <string_view>

#include "src/core/records.hpp"

namespace gq::storage::detail {

// "journal <location>: <what>: <reason>": `location` a file path or a URI without its password,
// `what` the operation ("recording grants"), `reason` why it failed.
std::string error_text(std::string_view location, std::string_view what, std::string_view reason);
// Throws journal_error with error_text(location, what, reason).
[[noreturn]] void fail(std::string_view location, std::string_view what, std::string_view reason);

// Throws journal_error ("querying grants") for a filter history_filter_problem() objects to: the
// journal's history() and the SQLite reader alone (`gateway-queue history`) both ask.
void check_history_filter(std::string_view location, const history_filter& filter);

}  // namespace gq::storage::detail
