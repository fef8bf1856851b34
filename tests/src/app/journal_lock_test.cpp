#include "src/app/journal_lock.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace gq {
namespace {

struct temp_file {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("gq-lock-test-" + std::to_string(::getpid()) + ".db"))
                         .string();
  temp_file() { std::ofstream{path}; }
  ~temp_file() { std::filesystem::remove(path); }
};

TEST(journal_lock, only_one_holder_at_a_time) {
  temp_file file;
  std::optional<journal_lock> first;
  first.emplace(file.path);
  try {
    journal_lock second(file.path);
    FAIL() << "a second lock on a held journal";
  } catch (const journal_in_use& e) {
    EXPECT_NE(std::string(e.what()).find("in use by another gateway-queue process"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find(file.path), std::string::npos) << e.what();
  }
  first.reset();
  EXPECT_NO_THROW(journal_lock again(file.path)) << "released with its holder";
}

TEST(journal_lock, a_missing_file_is_created_empty_and_locked) {
  temp_file file;
  std::filesystem::remove(file.path);
  std::optional<journal_lock> first;
  first.emplace(file.path);
  EXPECT_TRUE(std::filesystem::exists(file.path));
  EXPECT_EQ(std::filesystem::file_size(file.path), 0u);
  EXPECT_THROW(journal_lock second(file.path), journal_in_use);
}

TEST(journal_lock, a_missing_directory_is_an_error_naming_it) {
  const std::string path = "/nonexistent-dir-for-gq-tests/journal.db";
  try {
    journal_lock lock(path);
    FAIL() << "locked a file that does not exist";
  } catch (const journal_in_use& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gq
