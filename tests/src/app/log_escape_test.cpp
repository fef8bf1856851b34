#include "src/app/log_escape.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace gq {
namespace {

// U+0085 NEL, U+009B CSI, U+202E RIGHT-TO-LEFT OVERRIDE, U+2028 LINE SEPARATOR, U+2066 LRI.
constexpr const char* k_nel = "\xc2\x85";
constexpr const char* k_csi = "\xc2\x9b";
constexpr const char* k_rlo = "\xe2\x80\xae";
constexpr const char* k_line_separator = "\xe2\x80\xa8";
constexpr const char* k_lri = "\xe2\x81\xa6";

TEST(escape_log_text, c0_and_del_are_escaped_as_before) {
  EXPECT_EQ(escape_log_text("a\nb\r\tc\x01\x1b[2J\x7f"), R"(a\nb\r\tc\x01\x1b[2J\x7f)");
}

TEST(escape_log_text, c1_controls_line_separators_and_bidi_controls_are_escaped_visibly) {
  const std::string text = std::string("x") + k_nel + "forged" + k_csi + "31m" + k_rlo + "txt" +
                           k_line_separator + k_lri + "\xd8\x9c" + "\xe2\x80\x8f";
  EXPECT_EQ(escape_log_text(text),
            R"(x\u0085forged\u009b31m\u202etxt\u2028\u2066\u061c\u200f)");
}

TEST(escape_log_text, other_unicode_passes_unchanged) {
  const std::string text = "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 \xc2\xa0 \xe2\x80\x94";
  EXPECT_EQ(escape_log_text(text), text);
}

TEST(escape_log_text, bytes_that_are_not_utf8_are_escaped_so_no_lone_c1_byte_remains) {
  // A lone 0x85 is NEL to a reader that decodes Latin-1; overlong and surrogate forms too.
  EXPECT_EQ(escape_log_text("a\x85z"), R"(a\x85z)");
  EXPECT_EQ(escape_log_text("\xc0\x8a"), R"(\xc0\x8a)");
  EXPECT_EQ(escape_log_text("\xed\xa0\x80"), R"(\xed\xa0\x80)");
  EXPECT_EQ(escape_log_text("cut \xe2\x80"), R"(cut \xe2\x80)");
}

TEST(escape_json_hazards, rewrites_hazards_as_json_escapes_that_parse_back_to_the_same_text) {
  const std::string message = std::string("a") + k_nel + "b" + k_csi + "c" + k_rlo + "d\x7f" +
                              "e" + k_line_separator + " caf\xc3\xa9";
  const std::string dumped = nlohmann::json(message).dump();
  const std::string escaped = escape_json_hazards(dumped);
  EXPECT_EQ(escaped, R"("a\u0085b\u009bc\u202ed\u007fe\u2028 caf)" "\xc3\xa9\"");
  EXPECT_EQ(nlohmann::json::parse(escaped).get<std::string>(), message);
}

}  // namespace
}  // namespace gq
