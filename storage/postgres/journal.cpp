#include "storage/postgres/journal.hpp"

#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "storage/postgres/connection.hpp"
#include "storage/postgres/schema.hpp"
#include "storage/sql.hpp"

namespace gq::storage {

namespace {

using postgres::param;
using postgres::parameter;
using postgres::result;

// synchronous_commit = on (durability::full): COMMIT returns once the grant is flushed to the
// server's WAL (and, with synchronous standbys configured, to them). off (durability::normal):
// survives a crash of this process, may lose the last commits if the server crashes.
const char* synchronous_setting(durability mode) {
  return mode == durability::full ? "SET synchronous_commit = on" : "SET synchronous_commit = off";
}

// The whole batch in one statement (one round trip, not one per grant): six bound arrays,
// unnested in step (several bots' grants may share a batch: each row has its bot). $7, the
// writer's mark (connection::writer_mark, "" without a lock): on a session without that mark
// nothing is inserted, so a pooler that hands the transaction another session than the lock
// holder's cannot commit a grant there. The shared statements are in storage/sql.hpp, whose
// placeholders are PostgreSQL's.
const std::string k_insert_releases =
    std::string(
        "INSERT INTO releases (released_at, shard, bucket, max_concurrency, waited_ms, bot) "
        "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], "
        "$5::bigint[], $6::text[]) WHERE $7 = '' OR current_setting('") +
    postgres::k_writer_mark_setting + "', true) = $7";

// An array parameter in PostgreSQL's text form: {1,NULL,3}, {"a","null"}.
class array_param {
 public:
  void add(std::int64_t value) { next().append(std::to_string(value)); }
  void add(shard_id value) { next().append(value ? std::to_string(*value) : "NULL"); }
  // Always quoted: unquoted, a bot named "null" would be SQL NULL, and a name with a comma or a
  // brace (never valid, but quoting costs nothing) would split the array.
  void add(std::string_view text) {
    std::string& out = next();
    out += '"';
    for (const char c : text) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  parameter done() { return text_ + "}"; }

 private:
  std::string& next() {
    if (text_.size() > 1) text_ += ',';
    return text_;
  }
  std::string text_ = "{";
};

// Every row of `read`, decoded by `decode` (storage/sql.hpp).
template <class Decode>
auto decode_rows(const result& read, Decode decode) {
  std::vector<std::invoke_result_t<Decode, const result::row_view&>> decoded;
  decoded.reserve(static_cast<std::size_t>(read.rows()));
  for (int row = 0; row < read.rows(); ++row) decoded.push_back(decode(read.at(row)));
  return decoded;
}

}  // namespace

postgres_journal::postgres_journal(const std::string& uri, durability mode, integrity_check check)
    : postgres_journal(uri, std::make_unique<postgres::connection>(uri), mode, check) {}

postgres_journal::postgres_journal(const std::string& uri,
                                   std::unique_ptr<postgres::connection> writer, durability mode,
                                   integrity_check check)
    : journal(writer->location()), uri_(uri), writer_(std::move(writer)) {
  writer_->add_setup(synchronous_setting(mode));
  const postgres::database_state state = postgres::inspect(*writer_);
  postgres::check_openable(*writer_, state);
  const bool verified =
      !(check == integrity_check::deferred && state.version == postgres::k_schema_version);
  if (verified) {
    postgres::migrate(*writer_);
    postgres::check_columns(*writer_);
  }
  reader_ = std::make_unique<postgres::connection>(uri);
  if (verified) mark_verified();
}

postgres_journal::~postgres_journal() = default;

void postgres_journal::do_record_releases(std::span<const release_record> records,
                                          std::span<const release_reattribution> reattributions,
                                          std::span<const release_outcome> outcomes) {
  postgres::transaction transaction(*writer_, "BEGIN", "recording grants");
  if (!records.empty()) {
    array_param released_at;
    array_param shard;
    array_param bucket;
    array_param max_concurrency;
    array_param waited_ms;
    array_param bot;
    for (const release_record& record : records) {
      released_at.add(record.released_at);
      shard.add(record.shard);
      bucket.add(record.bucket);
      max_concurrency.add(record.max_concurrency);
      waited_ms.add(record.waited_ms);
      bot.add(std::string_view(record.bot));
    }
    const parameter values[] = {released_at.done(),     shard.done(),     bucket.done(),
                                max_concurrency.done(), waited_ms.done(), bot.done(),
                                writer_->writer_mark()};
    if (writer_->query(k_insert_releases, values, "recording grants").affected() !=
        records.size()) {
      writer_->fail_not_lock_holder("recording grants");
    }
  }
  for (const release_reattribution& moved : reattributions) {
    const parameter values[] = {param(moved.shard),           param(moved.waited_ms),
                                param(moved.released_at),     param(moved.bucket),
                                param(moved.max_concurrency), moved.bot};
    writer_->query(std::string(sql::k_reattribute_release), values, "re-attributing a grant");
  }
  for (const release_outcome& reported : outcomes) {
    const auto& [result, code, reported_at] = reported.outcome;
    const parameter values[] = {
        std::string(to_string(result)),
        code ? param(static_cast<std::int64_t>(*code)) : parameter(std::nullopt),
        param(reported_at),
        param(reported.row.released_at),
        param(reported.row.bucket),
        param(reported.row.max_concurrency),
        reported.bot};
    writer_->query(std::string(sql::k_record_outcome), values, "recording an outcome");
  }
  transaction.commit();
}

void postgres_journal::do_record_limits(const session_limits& limits, std::string_view bot) {
  const parameter values[] = {param(limits.fetched_at),
                              param(limits.total),
                              param(limits.remaining),
                              param(limits.reset_at),
                              param(limits.max_concurrency),
                              std::string(to_string(limits.source)),
                              std::string(bot)};
  // One statement is one transaction, committed synchronously.
  writer_->query(std::string(sql::k_insert_limits), values, "recording limits");
}

recovery_state postgres_journal::do_recover(std::string_view bot) {
  recovery_state state;
  const parameter of_bot[] = {std::string(bot)};
  // One snapshot for the three reads, even while the reader prunes.
  postgres::transaction transaction(*writer_, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                                    "reading the journal for recovery");
  if (const result read =
          writer_->query(std::string(sql::k_newest_limits), of_bot, "reading the newest limits");
      read.rows() > 0) {
    state.limits = sql::read_limits(read.at(0));
  }
  if (const result read =
          writer_->query(std::string(sql::k_newest_release), of_bot, "reading the newest grant");
      read.rows() > 0) {
    sql::read_newest_release(read.at(0), state);
  }
  state.last_release_by_bucket.resize(state.last_max_concurrency);
  if (state.last_max_concurrency > 0) {
    const parameter values[] = {param(state.last_max_concurrency), std::string(bot)};
    const result read = writer_->query(std::string(sql::k_newest_by_bucket), values,
                                       "reading the newest grant per bucket");
    for (int row = 0; row < read.rows(); ++row) sql::read_newest_of_bucket(read.at(row), state);
  }
  transaction.commit();
  return state;
}

std::uint64_t postgres_journal::do_count_releases_since(unix_ms since, std::string_view bot) {
  const parameter values[] = {param(since), std::string(bot)};
  return static_cast<std::uint64_t>(
      writer_->query(std::string(sql::k_count_since), values, "counting grants").integer(0, 0));
}

std::vector<shard_grant> postgres_journal::do_shard_grants_since(unix_ms since,
                                                                 std::string_view bot) {
  const parameter values[] = {param(since), std::string(bot)};
  return decode_rows(writer_->query(std::string(sql::k_shard_grants_since), values,
                                    "reading the last hour's grants"),
                     [](const result::row_view& row) { return sql::read_shard_grant(row); });
}

std::vector<reported_invalid_session> postgres_journal::do_invalid_sessions_since(
    unix_ms since, std::string_view bot) {
  const parameter values[] = {param(since), std::string(bot)};
  return decode_rows(writer_->query(std::string(sql::k_invalid_sessions_since), values,
                                    "reading Invalid Sessions"),
                     [](const result::row_view& row) { return sql::read_invalid_session(row); });
}

std::vector<release_record> postgres_journal::do_history(const history_filter& filter) {
  const std::string text = sql::history_query(sql::history_shape(filter), sql::dialect::postgres);
  std::vector<parameter> values;
  for (sql::argument& argument : sql::history_arguments(filter)) {
    if (auto* integer = std::get_if<std::int64_t>(&argument)) {
      values.push_back(param(*integer));
    } else {
      values.emplace_back(std::move(std::get<std::string>(argument)));
    }
  }
  const std::lock_guard lock(reader_mutex_);
  return decode_rows(reader_->query(text, values, "querying grants"),
                     [](const result::row_view& row) { return sql::read_release(row); });
}

std::uint64_t postgres_journal::do_prune_before(unix_ms cutoff, std::uint32_t batch) {
  const parameter values[] = {param(cutoff), param(batch)};
  const std::lock_guard lock(reader_mutex_);
  return reader_->query(std::string(sql::k_prune), values, "pruning old grants").affected();
}

void postgres_journal::do_verify() {
  postgres::connection db(uri_);
  postgres::check_columns(db);
  // Nothing to migrate (the schema was current at open); this writes the schema version again,
  // so a database that cannot be written fails here rather than at the first grant.
  postgres::migrate(db);
}

void postgres_journal::do_confirm_writer() { writer_->confirm_lock_holder(); }

bool postgres_journal::do_writer_lost() const { return writer_->lock_lost(); }

int postgres_journal::do_schema_version() { return postgres::inspect(*writer_).version; }

postgres_claim::postgres_claim(std::string uri, journal_options options)
    : uri_(std::move(uri)), options_(options) {}

postgres_claim::~postgres_claim() = default;

std::unique_ptr<journal> postgres_claim::try_open() {
  // A session kept from an earlier try is opened anew by its next statement when the database
  // restarted while we waited.
  if (!session_) session_ = std::make_unique<postgres::connection>(uri_);
  try {
    if (!session_->try_advisory_lock(postgres::k_journal_lock)) return nullptr;
  } catch (const journal_error&) {
    // Whatever the session holds goes with it (a lock taken without its mark would otherwise stay
    // held by a standby that never becomes active); the next try connects anew.
    session_.reset();
    throw;
  }
  // The session is the journal's from here: a journal that fails to open takes the session (and
  // the lock) with it, and the next try connects anew.
  return std::make_unique<postgres_journal>(uri_, std::move(session_), options_.mode,
                                            options_.check);
}

}  // namespace gq::storage
