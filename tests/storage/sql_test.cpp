// storage/sql.hpp: the statements both backends run, as each dialect numbers its placeholders,
// the history query's placeholders in the order of its arguments, and the rows' decoders.

#include "storage/sql.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gq::storage::sql {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(sql_test, sqlite_numbers_the_same_placeholders_with_question_marks) {
  EXPECT_EQ(for_dialect(k_count_since, dialect::postgres),
            "SELECT count(*) FROM releases WHERE bot = $2 AND released_at >= $1");
  EXPECT_EQ(for_dialect(k_count_since, dialect::sqlite),
            "SELECT count(*) FROM releases WHERE bot = ?2 AND released_at >= ?1");
  EXPECT_THAT(for_dialect(k_record_outcome, dialect::sqlite),
              AllOf(HasSubstr("outcome = ?1"), HasSubstr("max_concurrency = ?6"),
                    HasSubstr("bot = ?7"), Not(HasSubstr("$"))));
}

TEST(sql_test, history_placeholders_follow_its_arguments) {
  history_filter filter;
  EXPECT_THAT(history_query(history_shape(filter), dialect::postgres),
              AllOf(Not(HasSubstr("WHERE")), HasSubstr("LIMIT $1")));
  EXPECT_THAT(history_arguments(filter), ElementsAre(argument(history_filter::k_default_limit)));

  filter.since = 100;
  filter.limit = 5;
  EXPECT_THAT(history_query(history_shape(filter), dialect::sqlite),
              AllOf(HasSubstr(" WHERE released_at >= ?1 ORDER BY"), HasSubstr("LIMIT ?2")));
  EXPECT_THAT(history_arguments(filter), ElementsAre(argument(100), argument(5)));

  filter.shard = 7;
  filter.until = 200;
  EXPECT_THAT(history_query(history_shape(filter), dialect::postgres),
              HasSubstr(" WHERE shard = $1 AND released_at >= $2 AND released_at <= $3 ORDER BY "
                        "released_at DESC, id DESC LIMIT $4"));
  EXPECT_THAT(history_arguments(filter),
              ElementsAre(argument(7), argument(100), argument(200), argument(5)));

  // One bot's: its name is the first placeholder, the one text.
  filter.bot = "alpha";
  EXPECT_THAT(history_query(history_shape(filter), dialect::postgres),
              HasSubstr(" WHERE bot = $1 AND shard = $2 AND released_at >= $3 AND released_at <= "
                        "$4 ORDER BY released_at DESC, id DESC LIMIT $5"));
  EXPECT_THAT(history_arguments(filter), ElementsAre(argument("alpha"), argument(7), argument(100),
                                                     argument(200), argument(5)));
  history_filter every_bot = filter;
  every_bot.bot = std::nullopt;
  EXPECT_NE(history_shape(filter), history_shape(every_bot));
}

// A row as a backend hands it over: column values by index, NULL as nullopt.
struct fake_row {
  std::vector<std::optional<std::string>> columns;
  std::int64_t integer(int column) const { return std::stoll(*columns.at(column)); }
  bool is_null(int column) const { return !columns.at(column).has_value(); }
  std::string text(int column) const { return columns.at(column).value_or(""); }
};

TEST(sql_test, rows_decode_into_records) {
  EXPECT_EQ(read_release(fake_row{{"10", std::nullopt, "1", "2", "30", std::nullopt, std::nullopt,
                                   std::nullopt, "default"}}),
            (release_record{10, std::nullopt, 1, 2, 30}));
  EXPECT_EQ(
      read_release(fake_row{{"10", "4", "1", "2", "30", "closed", "4004", "12", "beta"}}),
      (release_record{10, 4, 1, 2, 30, grant_outcome{outcome_result::closed, 4004, 12}, "beta"}));
  EXPECT_EQ(read_limits(fake_row{{"1", "1000", "990", "2", "16", "discord"}}),
            (session_limits{1000, 990, 2, 16, limits_source::discord, 1}));
  EXPECT_EQ(read_limits(fake_row{{"1", "1000", "990", "2", "16", "config"}}).source,
            limits_source::config);
  EXPECT_EQ(read_shard_grant(fake_row{{"5", "10", "1", "2"}}), (shard_grant{5, {10, 1, 2}}));
  EXPECT_EQ(read_invalid_session(fake_row{{"10", "1", "2", "11"}}),
            (reported_invalid_session{{10, 1, 2}, 11}));
}

}  // namespace
}  // namespace gq::storage::sql
