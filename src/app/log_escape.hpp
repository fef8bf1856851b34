#pragma once
// Escaping of log text that may come from outside (Discord's error bodies, request data), so that
// one event stays one line and no byte of it can act on a terminal or a log reader.
//
// Hazards are the characters a reader may take as a line break or a command: C0 controls and DEL,
// C1 controls (U+0080-U+009F: NEL is a line break to some readers, CSI starts a terminal
// sequence), the Unicode line and paragraph separators (U+2028, U+2029) and the bidirectional
// controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) that reorder what a person
// sees. Every hazard is written as a visible escape; everything else, other Unicode included,
// passes unchanged.

#include <string>
#include <string_view>

namespace gq {

// For a text log line: `\n`, `\r`, `\t`, other C0 and DEL as `\xNN`, hazards above U+007F as
// `\uNNNN`, and bytes that are not valid UTF-8 as `\xNN` (so no lone 0x80-0x9F byte either).
std::string escape_log_text(std::string_view text);

// For a JSON log line: `json` is a serialized JSON value whose strings are valid UTF-8 and whose
// C0 controls are already escaped (nlohmann's dump does both); DEL and the hazards above U+007F
// are rewritten as JSON `\uNNNN` escapes, so the line holds none of their bytes and still parses to
// the same value.
std::string escape_json_hazards(std::string_view json);

}  // namespace gq
