#include "storage/postgres_journal.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "storage/pg_connection.hpp"
#include "storage/pg_schema.hpp"

namespace gq::storage {

namespace {

using detail::param;
using detail::pg_connection;
using detail::pg_param;
using detail::pg_result;
using detail::pg_transaction;

// synchronous_commit = on (durability::full): COMMIT returns once the grant is flushed to the
// server's WAL (and, with synchronous standbys configured, to them). off (durability::normal):
// survives a crash of this process, may lose the last commits if the server crashes.
const char* synchronous_setting(durability mode) {
  return mode == durability::full ? "SET synchronous_commit = on" : "SET synchronous_commit = off";
}

// The whole batch in one statement (one round trip, not one per grant): five bound arrays,
// unnested in step. $6, the writer's mark (pg_connection::writer_mark, "" without a lock): on a
// session without that mark nothing is inserted, so a pooler that hands the transaction another
// session than the lock holder's cannot commit a grant there.
const std::string k_insert_releases =
    std::string(
        "INSERT INTO releases (released_at, shard, bucket, max_concurrency, waited_ms) "
        "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], "
        "$5::bigint[]) WHERE $6 = '' OR current_setting('") +
    detail::k_writer_mark_setting + "', true) = $6";
// As in the SQLite journal: the newest row with that due instant, bucket and max_concurrency.
constexpr const char* k_reattribute_release =
    "UPDATE releases SET shard = $1, waited_ms = $2 WHERE id = (SELECT max(id) FROM releases "
    "WHERE released_at = $3 AND bucket = $4 AND max_concurrency = $5)";
// As in the SQLite journal: the row a re-attribution finds, a later report replacing an earlier.
constexpr const char* k_record_outcome =
    "UPDATE releases SET outcome = $1, outcome_code = $2, outcome_at = $3 WHERE id = (SELECT "
    "max(id) FROM releases WHERE released_at = $4 AND bucket = $5 AND max_concurrency = $6)";
constexpr const char* k_shard_grants_since =
    "SELECT shard, released_at, bucket, max_concurrency FROM releases "
    "WHERE released_at >= $1 AND shard IS NOT NULL ORDER BY released_at, id";
constexpr const char* k_invalid_sessions_since =
    "SELECT released_at, bucket, max_concurrency, outcome_at FROM releases "
    "WHERE outcome = 'invalid_session' AND outcome_at >= $1 ORDER BY outcome_at, id";
constexpr const char* k_insert_limits =
    "INSERT INTO limits (fetched_at, total, remaining, reset_at, max_concurrency, source) "
    "VALUES ($1, $2, $3, $4, $5, $6)";
constexpr const char* k_newest_limits =
    "SELECT fetched_at, total, remaining, reset_at, max_concurrency, source "
    "FROM limits ORDER BY id DESC LIMIT 1";
constexpr const char* k_newest_release =
    "SELECT released_at, max_concurrency FROM releases ORDER BY released_at DESC, id DESC LIMIT 1";
// The SQLite journal's skip-scan, which PostgreSQL runs as index seeks on releases_by_bucket too
// (it has no skip scan of its own): O(buckets x log rows), never a full read.
constexpr const char* k_newest_by_bucket = R"sql(
WITH RECURSIVE present(bucket) AS (
  SELECT (SELECT min(bucket) FROM releases WHERE max_concurrency = $1 AND bucket >= 0)
  UNION ALL
  SELECT (SELECT min(bucket) FROM releases WHERE max_concurrency = $1 AND bucket > present.bucket)
  FROM present WHERE present.bucket IS NOT NULL AND present.bucket < $1)
SELECT bucket,
       (SELECT max(released_at) FROM releases WHERE max_concurrency = $1 AND bucket = present.bucket)
FROM present WHERE bucket IS NOT NULL AND bucket < $1)sql";
constexpr const char* k_count_since = "SELECT count(*) FROM releases WHERE released_at >= $1";
constexpr const char* k_prune =
    "DELETE FROM releases WHERE id IN (SELECT id FROM releases WHERE released_at < $1 LIMIT $2)";

// Checked before the transaction begins, exactly as the SQLite journal does: a batch with one
// bad record is refused whole and nothing is written.
void check_record(const pg_connection& db, const release_record& record) {
  if (auto problem = release_record_problem(record)) db.fail("recording grants", *problem);
}

// A bigint[] parameter in PostgreSQL's text form, "{1,NULL,3}": integers only, so nothing needs
// quoting.
class array_param {
 public:
  void add(std::int64_t value) { next().append(std::to_string(value)); }
  void add(shard_id value) { next().append(value ? std::to_string(*value) : "NULL"); }
  pg_param done() { return text_ + "}"; }

 private:
  std::string& next() {
    if (text_.size() > 1) text_ += ',';
    return text_;
  }
  std::string text_ = "{";
};

// Only fixed fragments go into the SQL; every value is a bound parameter.
std::string history_sql(const history_filter& filter, std::vector<pg_param>& params) {
  std::string sql =
      "SELECT released_at, shard, bucket, max_concurrency, waited_ms, outcome, outcome_code, "
      "outcome_at FROM releases";
  const char* glue = " WHERE ";
  const auto add = [&](const char* condition, pg_param value) {
    params.push_back(std::move(value));
    sql.append(glue).append(condition).append(std::to_string(params.size()));
    glue = " AND ";
  };
  if (filter.shard) add("shard = $", param(static_cast<std::int64_t>(*filter.shard)));
  if (filter.since) add("released_at >= $", param(*filter.since));
  if (filter.until) add("released_at <= $", param(*filter.until));
  params.push_back(param(filter.limit));
  sql += " ORDER BY released_at DESC, id DESC LIMIT $" + std::to_string(params.size());
  return sql;
}

}  // namespace

postgres_journal::postgres_journal(const std::string& uri, durability mode, integrity_check check)
    : postgres_journal(uri, std::make_unique<pg_connection>(uri), mode, check) {}

postgres_journal::postgres_journal(const std::string& uri, std::unique_ptr<pg_connection> writer,
                                   durability mode, integrity_check check)
    : uri_(uri), writer_(std::move(writer)) {
  location_ = writer_->location();
  writer_->add_setup(synchronous_setting(mode));
  const detail::pg_state state = detail::pg_inspect(*writer_);
  detail::pg_check_openable(*writer_, state);
  const bool verified =
      !(check == integrity_check::deferred && state.version == detail::k_pg_schema_version);
  if (verified) {
    detail::pg_migrate(*writer_);
    detail::pg_check_columns(*writer_);
  }
  reader_ = std::make_unique<pg_connection>(uri);
  verified_.store(verified, std::memory_order_release);
}

postgres_journal::~postgres_journal() = default;

void postgres_journal::require_verified(const char* what) const {
  if (!verified()) writer_->fail(what, "the journal's check has not passed");
}

void postgres_journal::record_releases(std::span<const release_record> records,
                                       std::span<const release_reattribution> reattributions,
                                       std::span<const release_outcome> outcomes) {
  if (records.empty() && reattributions.empty() && outcomes.empty()) return;
  for (const release_record& record : records) check_record(*writer_, record);
  for (const release_reattribution& moved : reattributions) {
    check_record(*writer_, {moved.released_at, moved.shard, moved.bucket, moved.max_concurrency,
                            moved.waited_ms});
  }
  require_verified("recording grants");
  pg_transaction transaction(*writer_, "BEGIN", "recording grants");
  if (!records.empty()) {
    array_param released_at;
    array_param shard;
    array_param bucket;
    array_param max_concurrency;
    array_param waited_ms;
    for (const release_record& record : records) {
      released_at.add(record.released_at);
      shard.add(record.shard);
      bucket.add(record.bucket);
      max_concurrency.add(record.max_concurrency);
      waited_ms.add(record.waited_ms);
    }
    const pg_param values[] = {released_at.done(),     shard.done(),     bucket.done(),
                               max_concurrency.done(), waited_ms.done(), writer_->writer_mark()};
    if (writer_->query(k_insert_releases, values, "recording grants").affected() !=
        records.size()) {
      writer_->fail_not_lock_holder("recording grants");
    }
  }
  for (const release_reattribution& moved : reattributions) {
    const pg_param values[] = {param(moved.shard), param(moved.waited_ms), param(moved.released_at),
                               param(moved.bucket), param(moved.max_concurrency)};
    writer_->query(k_reattribute_release, values, "re-attributing a grant");
  }
  for (const release_outcome& reported : outcomes) {
    const auto& [result, code, reported_at] = reported.outcome;
    const pg_param values[] = {
        std::string(to_string(result)),
        code ? param(static_cast<std::int64_t>(*code)) : pg_param(std::nullopt),
        param(reported_at),
        param(reported.row.released_at),
        param(reported.row.bucket),
        param(reported.row.max_concurrency)};
    writer_->query(k_record_outcome, values, "recording an outcome");
  }
  transaction.commit();
}

void postgres_journal::record_limits(const session_limits& limits) {
  if (limits.max_concurrency == 0) writer_->fail("recording limits", "max_concurrency is 0");
  require_verified("recording limits");
  writer_->reconnect_if_broken();
  const pg_param values[] = {param(limits.fetched_at),      param(limits.total),
                             param(limits.remaining),       param(limits.reset_at),
                             param(limits.max_concurrency), std::string(to_string(limits.source))};
  // One statement is one transaction, committed synchronously.
  writer_->query(k_insert_limits, values, "recording limits");
}

recovery_state postgres_journal::recover() {
  recovery_state state;
  // One snapshot for the three reads, even while the reader prunes.
  pg_transaction transaction(*writer_, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                             "reading the journal for recovery");
  if (const pg_result read = writer_->query(k_newest_limits, "reading the newest limits");
      read.rows() > 0) {
    session_limits limits;
    limits.fetched_at = read.integer(0, 0);
    limits.total = static_cast<std::uint32_t>(read.integer(0, 1));
    limits.remaining = static_cast<std::uint32_t>(read.integer(0, 2));
    limits.reset_at = read.integer(0, 3);
    limits.max_concurrency = static_cast<std::uint32_t>(read.integer(0, 4));
    limits.source = read.text(0, 5) == "discord" ? limits_source::discord : limits_source::config;
    state.limits = limits;
  }
  if (const pg_result read = writer_->query(k_newest_release, "reading the newest grant");
      read.rows() > 0) {
    state.last_release_at = read.integer(0, 0);
    state.last_max_concurrency = static_cast<std::uint32_t>(read.integer(0, 1));
  }
  state.last_release_by_bucket.resize(state.last_max_concurrency);
  if (state.last_max_concurrency > 0) {
    const pg_param values[] = {param(state.last_max_concurrency)};
    const pg_result read =
        writer_->query(k_newest_by_bucket, values, "reading the newest grant per bucket");
    for (int row = 0; row < read.rows(); ++row) {
      state.last_release_by_bucket[static_cast<std::size_t>(read.integer(row, 0))] =
          read.integer(row, 1);
    }
  }
  transaction.commit();
  return state;
}

std::uint64_t postgres_journal::count_releases_since(unix_ms since) {
  writer_->reconnect_if_broken();
  const pg_param values[] = {param(since)};
  return static_cast<std::uint64_t>(
      writer_->query(k_count_since, values, "counting grants").integer(0, 0));
}

std::vector<shard_grant> postgres_journal::shard_grants_since(unix_ms since) {
  writer_->reconnect_if_broken();
  const pg_param values[] = {param(since)};
  const pg_result read =
      writer_->query(k_shard_grants_since, values, "reading the last hour's grants");
  std::vector<shard_grant> grants;
  grants.reserve(static_cast<std::size_t>(read.rows()));
  for (int row = 0; row < read.rows(); ++row) {
    grants.push_back({static_cast<std::uint64_t>(read.integer(row, 0)),
                      {read.integer(row, 1), static_cast<std::uint32_t>(read.integer(row, 2)),
                       static_cast<std::uint32_t>(read.integer(row, 3))}});
  }
  return grants;
}

std::vector<reported_invalid_session> postgres_journal::invalid_sessions_since(unix_ms since) {
  writer_->reconnect_if_broken();
  const pg_param values[] = {param(since)};
  const pg_result read =
      writer_->query(k_invalid_sessions_since, values, "reading Invalid Sessions");
  std::vector<reported_invalid_session> reports;
  reports.reserve(static_cast<std::size_t>(read.rows()));
  for (int row = 0; row < read.rows(); ++row) {
    reports.push_back({{read.integer(row, 0), static_cast<std::uint32_t>(read.integer(row, 1)),
                        static_cast<std::uint32_t>(read.integer(row, 2))},
                       read.integer(row, 3)});
  }
  return reports;
}

std::vector<release_record> postgres_journal::history(const history_filter& filter) {
  if (auto problem = history_filter_problem(filter)) reader_->fail("querying grants", *problem);
  std::vector<pg_param> params;
  const std::string sql = history_sql(filter, params);
  const std::lock_guard lock(reader_mutex_);
  reader_->reconnect_if_broken();
  const pg_result read = reader_->query(sql, params, "querying grants");
  std::vector<release_record> releases;
  releases.reserve(static_cast<std::size_t>(read.rows()));
  for (int row = 0; row < read.rows(); ++row) {
    release_record& record = releases.emplace_back();
    record.released_at = read.integer(row, 0);
    if (!read.is_null(row, 1)) record.shard = static_cast<std::uint64_t>(read.integer(row, 1));
    record.bucket = static_cast<std::uint32_t>(read.integer(row, 2));
    record.max_concurrency = static_cast<std::uint32_t>(read.integer(row, 3));
    record.waited_ms = read.integer(row, 4);
    if (!read.is_null(row, 5)) {
      if (auto result = parse_outcome_result(read.text(row, 5))) {
        grant_outcome outcome{*result, std::nullopt, read.integer(row, 7)};
        if (!read.is_null(row, 6)) outcome.code = static_cast<std::uint32_t>(read.integer(row, 6));
        record.outcome = outcome;
      }
    }
  }
  return releases;
}

std::uint64_t postgres_journal::prune_before(unix_ms cutoff, std::uint32_t batch) {
  // A zero batch would delete nothing and return `batch`, looping its caller forever.
  if (batch == 0) reader_->fail("pruning old grants", "batch size is 0");
  require_verified("pruning old grants");
  const std::lock_guard lock(reader_mutex_);
  reader_->reconnect_if_broken();
  const pg_param values[] = {param(cutoff), param(batch)};
  return reader_->query(k_prune, values, "pruning old grants").affected();
}

void postgres_journal::verify() {
  if (verified()) return;
  pg_connection db(uri_);
  detail::pg_check_columns(db);
  // Nothing to migrate (the schema was current at open); this writes the schema version again,
  // so a database that cannot be written fails here rather than at the first grant.
  detail::pg_migrate(db);
  verified_.store(true, std::memory_order_release);
}

void postgres_journal::confirm_writer() { writer_->confirm_lock_holder(); }

bool postgres_journal::writer_lost() const { return writer_->lock_lost(); }

int postgres_journal::schema_version() {
  writer_->reconnect_if_broken();
  return detail::pg_inspect(*writer_).version;
}

postgres_claim::postgres_claim(std::string uri, journal_options options)
    : uri_(std::move(uri)), options_(options) {}

postgres_claim::~postgres_claim() = default;

std::unique_ptr<journal> postgres_claim::try_open() {
  if (!session_) {
    session_ = std::make_unique<pg_connection>(uri_);
  } else {
    session_->reconnect_if_broken();  // a database restarted while we waited
  }
  try {
    if (!session_->try_advisory_lock(k_pg_journal_lock)) return nullptr;
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
