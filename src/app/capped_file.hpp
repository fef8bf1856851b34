#pragma once
// Reads a small file whole, refusing one larger than a cap: secrets' files and the bots file,
// which a typo could point at something huge or endless (a device, a log).

#include <cstddef>
#include <string>
#include <variant>

namespace gq {

enum class capped_file_problem { unreadable, too_large };

struct capped_file_error {
  capped_file_problem problem = capped_file_problem::unreadable;
  int error_number = 0;  // errno, for unreadable
};

std::variant<std::string, capped_file_error> read_capped_file(const std::string& path,
                                                              std::size_t max_bytes);

}  // namespace gq
