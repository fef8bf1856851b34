#pragma once
// Process-wide logging to stdout, one line per event: plain text or one JSON object per line.
// Secrets registered here are replaced by "[redacted]" in every line, as a last line of defence:
// no code path is meant to log them in the first place.

#include <string>

#include "src/app/config.hpp"

namespace gq {

void init_logging(log_format format, log_level level);

// Registers a secret (the Discord token, the auth token) to redact from every later log line.
void add_log_redaction(const std::string& secret);

}  // namespace gq
