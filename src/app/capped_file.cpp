#include "src/app/capped_file.hpp"

#include <cerrno>
#include <cstdio>

namespace gq {

std::variant<std::string, capped_file_error> read_capped_file(const std::string& path,
                                                              std::size_t max_bytes) {
  std::FILE* in = std::fopen(path.c_str(), "rb");
  if (!in) return capped_file_error{capped_file_problem::unreadable, errno};
  std::string contents;
  char buffer[4096];
  bool failed = false;
  while (contents.size() <= max_bytes) {
    const auto got = std::fread(buffer, 1, sizeof buffer, in);
    contents.append(buffer, got);
    if (got < sizeof buffer) {
      failed = std::ferror(in) != 0;
      break;
    }
  }
  const int read_errno = errno;
  std::fclose(in);
  if (failed) return capped_file_error{capped_file_problem::unreadable, read_errno};
  if (contents.size() > max_bytes) return capped_file_error{capped_file_problem::too_large, 0};
  return contents;
}

}  // namespace gq
