// open_journal (storage/journal.hpp): the backend is chosen by the location's form.
#include "storage/journal.hpp"
#include "storage/postgres/connection.hpp"
#include "storage/postgres/journal.hpp"
#include "storage/sqlite/journal.hpp"

namespace gq::storage {

bool is_postgres_location(std::string_view location) { return postgres::is_uri(location); }

std::string redacted_location(std::string_view location) {
  return is_postgres_location(location) ? postgres::redact_uri(location) : std::string(location);
}

std::unique_ptr<journal> open_journal(const std::string& location, journal_options options) {
  if (is_postgres_location(location)) {
    if (!options.exclusive) {
      return std::make_unique<postgres_journal>(location, options.mode, options.check);
    }
    // The writer's way in (a claim), tried once.
    if (auto journal = postgres_claim(location, options).try_open()) return journal;
    throw journal_taken("journal " + redacted_location(location) +
                        ": another gateway-queue is the active writer of this journal (it holds "
                        "the journal's advisory lock)");
  }
  return std::make_unique<sqlite_journal>(location, options.mode, options.check);
}

namespace {

// SQLite has no session to keep: the file lock (src/app/journal_lock.hpp) is the server's.
class sqlite_claim final : public journal_claim {
 public:
  sqlite_claim(std::string path, journal_options options)
      : path_(std::move(path)), options_(options) {}
  std::unique_ptr<journal> try_open() override {
    return std::make_unique<sqlite_journal>(path_, options_.mode, options_.check);
  }

 private:
  std::string path_;
  journal_options options_;
};

}  // namespace

std::unique_ptr<journal_claim> claim_journal(const std::string& location, journal_options options) {
  if (is_postgres_location(location)) return std::make_unique<postgres_claim>(location, options);
  return std::make_unique<sqlite_claim>(location, options);
}

}  // namespace gq::storage
