#pragma once
// Internals of src/app/logging.cpp, exposed so that tests can capture the lines it writes.

#include <spdlog/common.h>

#include "src/app/config.hpp"

namespace gq::detail {

// init_logging with the lines going to `sink` instead of stdout.
void init_logging_to(spdlog::sink_ptr sink, log_format format, log_level level);

}  // namespace gq::detail
