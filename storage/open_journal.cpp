// open_journal (storage/journal.hpp): the backend is chosen by the location's form.
#include "storage/journal.hpp"
#include "storage/pg_connection.hpp"
#include "storage/postgres_journal.hpp"
#include "storage/sqlite_journal.hpp"

namespace gq::storage {

bool is_postgres_location(std::string_view location) { return detail::is_postgres_uri(location); }

std::string redacted_location(std::string_view location) {
  return is_postgres_location(location) ? detail::redact_uri(location) : std::string(location);
}

std::unique_ptr<journal> open_journal(const std::string& location, journal_options options) {
  if (is_postgres_location(location)) {
    return std::make_unique<postgres_journal>(location, options.mode, options.check,
                                              options.exclusive);
  }
  return std::make_unique<sqlite_journal>(location, options.mode, options.check);
}

}  // namespace gq::storage
