#pragma once
// What this binary is: the version and the commit it was built from, read from git when the
// build was configured (cmake/version.cmake). Shown by --version, the first log line, the
// User-Agent sent to Discord and gateway_queue_build_info, so two deployments can be told apart.

#include <string_view>

namespace gq {

// `0.2.0` on a release tag, `0.2.0-3-g1a2b3c4` after one, `0.1.0-g1a2b3c4` on a history without
// tags; the project's version alone when built outside git.
std::string_view build_version();

// The full commit hash, or `unknown` when built outside git without one named.
std::string_view build_commit();

}  // namespace gq
