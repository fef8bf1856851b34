#include "src/app/log_escape.hpp"

#include <cstdint>
#include <cstdio>
#include <optional>

namespace gq {

namespace {

struct code_point {
  char32_t value;
  std::size_t length;  // bytes of UTF-8 it took
};

// The well-formed UTF-8 sequence at the start of `text` (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or nothing.
std::optional<code_point> decode_utf8(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  char32_t value = 0;
  char32_t minimum = 0;
  if (lead < 0x80) return code_point{lead, 1};
  if ((lead & 0xE0) == 0xC0) {
    length = 2, value = lead & 0x1F, minimum = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, value = lead & 0x0F, minimum = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, value = lead & 0x07, minimum = 0x10000;
  } else {
    return std::nullopt;
  }
  if (text.size() < length) return std::nullopt;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return std::nullopt;
    value = (value << 6) | (byte(i) & 0x3F);
  }
  if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))
    return std::nullopt;
  return code_point{value, length};
}

// A hazard above U+007F (see log_escape.hpp).
bool is_unicode_hazard(char32_t c) {
  return (c >= 0x80 && c <= 0x9F) || c == 0x061C || c == 0x200E || c == 0x200F || c == 0x2028 ||
         c == 0x2029 || (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

void append_hex(std::string& out, const char* format, unsigned value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, format, value);
  out += buf;
}

}  // namespace

std::string escape_log_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const auto decoded = decode_utf8(text);
    if (!decoded) {
      append_hex(out, "\\x%02x", static_cast<unsigned char>(text[0]));
      text.remove_prefix(1);
      continue;
    }
    const char32_t c = decoded->value;
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      append_hex(out, "\\x%02x", static_cast<unsigned>(c));
    } else if (is_unicode_hazard(c)) {
      append_hex(out, "\\u%04x", static_cast<unsigned>(c));
    } else {
      out.append(text.substr(0, decoded->length));
    }
    text.remove_prefix(decoded->length);
  }
  return out;
}

std::string escape_json_hazards(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  while (!json.empty()) {
    const auto decoded = decode_utf8(json);
    const std::size_t length = decoded ? decoded->length : 1;
    // nlohmann escapes C0 but leaves DEL raw.
    if (decoded && (decoded->value == 0x7F || is_unicode_hazard(decoded->value))) {
      append_hex(out, "\\u%04x", static_cast<unsigned>(decoded->value));
    } else {
      out.append(json.substr(0, length));
    }
    json.remove_prefix(length);
  }
  return out;
}

}  // namespace gq
