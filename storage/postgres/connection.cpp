#include "storage/postgres/connection.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "storage/errors.hpp"
#include "storage/journal.hpp"

namespace gq::storage::postgres {

namespace {

constexpr std::string_view k_pooler_hint =
    "a connection pooler in transaction or statement mode (PgBouncer's pool_mode) hands one "
    "database session to several clients, so the journal's session lock proves nothing; connect "
    "directly or through session pooling (docs/JOURNAL.md, \"PgBouncer\")";

std::string new_writer_mark() {
  std::random_device entropy;
  std::string mark = std::to_string(::getpid()) + "-";
  for (int i = 0; i < 4; ++i) {
    char chunk[9];
    std::snprintf(chunk, sizeof chunk, "%08x", entropy());
    mark += chunk;
  }
  return mark;
}

// The mark on the session this connection reaches ("" when none).
std::string current_mark(connection& db, std::string_view what) {
  const result read =
      db.query("SELECT current_setting('" + std::string(k_writer_mark_setting) + "', true)", what);
  return read.is_null(0, 0) ? std::string{} : read.text(0, 0);
}

struct uri_parts {
  std::string redacted;
  std::vector<std::string> passwords;  // as written in the URI (maybe percent-encoded)
};

// Splits off the password of "scheme://user:password@host..." and of "?...&password=...".
uri_parts split_uri(std::string_view uri) {
  uri_parts parts;
  const std::size_t scheme_end = uri.find("://");
  if (scheme_end == std::string_view::npos) {
    parts.redacted = uri;
    return parts;
  }
  const std::size_t authority = scheme_end + 3;
  std::size_t authority_end = uri.find_first_of("/?#", authority);
  if (authority_end == std::string_view::npos) authority_end = uri.size();
  std::string out(uri.substr(0, authority));
  const std::string_view host_part = uri.substr(authority, authority_end - authority);
  if (const std::size_t at = host_part.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = host_part.substr(0, at);
    if (const std::size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      parts.passwords.emplace_back(userinfo.substr(colon + 1));
      out.append(userinfo.substr(0, colon));
    } else {
      out.append(userinfo);
    }
    out.append(host_part.substr(at));
  } else {
    out.append(host_part);
  }
  std::string_view rest = uri.substr(authority_end);
  const std::size_t question = rest.find('?');
  if (question == std::string_view::npos) {
    parts.redacted = out.append(rest);
    return parts;
  }
  out.append(rest.substr(0, question));
  std::string_view query = rest.substr(question + 1);
  const char* glue = "?";
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.starts_with("password=")) {
      parts.passwords.emplace_back(item.substr(9));
      continue;
    }
    out.append(glue).append(item);
    glue = "&";
  }
  parts.redacted = std::move(out);
  return parts;
}

std::string scrub(std::string text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    for (std::size_t at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + 3)) {
      text.replace(at, secret.size(), "***");
    }
  }
  return text;
}

std::string trimmed(const char* message) {
  std::string text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (char& c : text) {
    if (c == '\n') c = ' ';
  }
  return text.empty() ? "unknown libpq error" : text;
}

}  // namespace

bool is_uri(std::string_view location) {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

std::string redact_uri(std::string_view uri) { return split_uri(uri).redacted; }

std::int64_t result::integer(int row, int column) const {
  const char* text = PQgetvalue(result_.get(), row, column);
  std::int64_t value = 0;
  const std::string_view view(text);
  std::from_chars(view.data(), view.data() + view.size(), value);
  return value;
}

std::uint64_t result::affected() const {
  const std::string_view view(PQcmdTuples(result_.get()));
  std::uint64_t value = 0;
  std::from_chars(view.data(), view.data() + view.size(), value);
  return value;
}

connection::connection(const std::string& uri) {
  uri_parts parts = split_uri(uri);
  location_ = std::move(parts.redacted);
  secrets_ = std::move(parts.passwords);
  // The decoded password too (a percent-encoded one is written differently in messages).
  char* parse_error = nullptr;
  if (PQconninfoOption* options = PQconninfoParse(uri.c_str(), &parse_error)) {
    for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
      if (std::string_view(option->keyword) == "password" && option->val != nullptr) {
        secrets_.emplace_back(option->val);
      }
    }
    PQconninfoFree(options);
  } else {
    const std::string reason = trimmed(parse_error);
    PQfreemem(parse_error);
    fail("cannot open", "not a valid PostgreSQL connection URI: " + reason);
  }
  if (const char* env = std::getenv("PGPASSWORD")) secrets_.emplace_back(env);
  // Keywords before "dbname" are defaults that the URI overrides: a server that never answers
  // fails the open after 10 s instead of hanging the start, and a dead link (a machine gone, a
  // network cut) fails a statement within ~10 s instead of TCP's ~15 minutes: keepalive probes
  // after 5 s idle, 1 s apart, 3 lost ends it; data unacknowledged for 10 s ends it too.
  const char* const keywords[] = {
      "connect_timeout",  "fallback_application_name", "keepalives_idle", "keepalives_interval",
      "keepalives_count", "tcp_user_timeout",          "dbname",          nullptr};
  const char* const values[] = {"10", "gateway-queue", "5",         "1",
                                "3",  "10000",         uri.c_str(), nullptr};
  conn_.reset(PQconnectdbParams(keywords, values, 1));
  if (!conn_) fail("cannot open", "out of memory");
  if (PQstatus(conn_.get()) != CONNECTION_OK) fail("cannot open");
  // Server notices (e.g. "terminating connection due to administrator command") would go to
  // stderr as unstructured lines; every failure that matters comes back as an error anyway.
  PQsetNoticeProcessor(
      conn_.get(), [](void*, const char*) {}, nullptr);
}

void connection::add_setup(std::string sql) {
  exec(sql, "setting up the connection");
  setup_.push_back(std::move(sql));
}

void connection::reconnect_if_broken() {
  if (in_transaction_ || PQstatus(conn_.get()) == CONNECTION_OK) return;
  if (lock_held_) {
    lock_lost_ = true;
    fail("writing",
         "the session that held the journal's lock has ended: this process is no "
         "longer the journal's writer");
  }
  PQreset(conn_.get());
  if (PQstatus(conn_.get()) != CONNECTION_OK) fail("reconnecting");
  for (const std::string& sql : setup_) run(sql, "setting up the connection");
}

bool connection::try_advisory_lock(std::int64_t key) {
  const std::string_view what = "taking the journal's lock";
  // One statement, so that a pooler cannot run its parts on different sessions or let another
  // client's statement in between: CASE tries the lock only on a session without a mark, and
  // marks it only once the lock is taken.
  const std::string setting = std::string("'") + k_writer_mark_setting + "'";
  const std::string sql = "SELECT CASE WHEN coalesce(current_setting(" + setting +
                          ", true), '') <> '' THEN 'marked' WHEN pg_try_advisory_lock($1) THEN "
                          "set_config(" +
                          setting + ", $2, false) ELSE '' END";
  const parameter values[] = {std::to_string(key), new_writer_mark()};
  const std::string answer = query(sql, values, what).text(0, 0);
  if (answer == "marked") {
    fail(what,
         "this database session already holds the journal for another gateway-queue "
         "process: " +
             std::string(k_pooler_hint));
  }
  if (answer.empty()) return false;
  writer_mark_ = answer;
  lock_held_ = true;
  return true;
}

void connection::confirm_lock_holder() {
  const std::string_view what = "confirming the journal's writer session";
  const std::string mark = current_mark(*this, what);  // the round trip, with or without a lock
  if (lock_held_ && mark != writer_mark_) fail_not_lock_holder(what);
}

void connection::fail_not_lock_holder(std::string_view what) {
  lock_lost_ = true;
  fail(what,
       "this connection reached another database session than the one holding the "
       "journal's lock: " +
           std::string(k_pooler_hint));
}

void connection::exec(const std::string& sql, std::string_view what) {
  reconnect_if_broken();
  run(sql, what);
}

void connection::run(const std::string& sql, std::string_view what) {
  const result answer(PQexec(conn_.get(), sql.c_str()));
  const ExecStatusType status = answer.status();
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(what);
}

result connection::query(const std::string& sql, std::span<const parameter> params,
                         std::string_view what) {
  reconnect_if_broken();
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const parameter& value : params) values.push_back(value ? value->c_str() : nullptr);
  result answer(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0));
  const ExecStatusType status = answer.status();
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(what);
  return answer;
}

void connection::fail(std::string_view what) const {
  fail(what, trimmed(conn_ ? PQerrorMessage(conn_.get()) : nullptr));
}

void connection::fail(std::string_view what, std::string_view reason) const {
  throw journal_error(scrub(detail::error_text(location_, what, reason), secrets_));
}

transaction::transaction(connection& db, std::string_view begin, std::string_view what)
    : db_(db), what_(what) {
  db_.exec(std::string(begin), what_);  // on a connection opened anew, if it had to be
  db_.in_transaction_ = true;           // and from here never replaced until this ends
}

transaction::~transaction() {
  db_.in_transaction_ = false;
  if (!open_) return;
  // Nothing of the transaction is kept; on a broken connection the server has rolled it back.
  if (PQstatus(db_.get()) == CONNECTION_OK) {
    PQclear(PQexec(db_.get(), "ROLLBACK"));
  }
}

void transaction::commit() {
  open_ = false;
  db_.exec("COMMIT", what_);  // in the transaction still: a closed connection fails it
}

}  // namespace gq::storage::postgres
