#pragma once
// The real gateway-queue binary (GQ_BINARY) as a child process, for integration and crash tests.
//
// Each server gets a fresh temporary directory holding its journal (QUEUE_DB), its working
// directory (so no stray caf-application.ini is read) and its captured stdout/stderr. The
// environment is the test's own minus every variable the server reads (HOST, PORT, QUEUE_*,
// DISCORD_*), plus what the test passes explicitly: a developer's shell never leaks into a test.
// Every signal disposition is reset to its default in the child, so a server that forgets to
// handle SIGPIPE dies here as it would in production.
//
// The destructor always SIGKILLs the child by PID and removes the directory.
//
// Under ThreadSanitizer (-DGQ_SANITIZERS=thread) the server is instrumented too: a race it
// reports goes to its stderr, and the test fails (see expect_no_sanitizer_report). ctest passes
// TSAN_OPTIONS with exitcode=66, so a server that reported one also exits 66 on SIGTERM.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace gq::integration {

using namespace std::chrono_literals;
using env_map = std::map<std::string, std::string>;

// The test process itself must survive writing to a socket whose peer is gone (cpp-httplib 0.11
// sends without MSG_NOSIGNAL); children get SIGPIPE back at its default.
inline const bool k_sigpipe_ignored = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Fails the current test if a server's stderr holds a sanitizer report (ThreadSanitizer,
// AddressSanitizer, UndefinedBehaviorSanitizer): the binary under test is built with the same
// sanitizers as the tests, and its reports must not go unnoticed in a log nobody reads.
inline void expect_no_sanitizer_report(const std::string& stderr_text) {
  for (const char* marker : {"WARNING: ThreadSanitizer", "ERROR: AddressSanitizer",
                             "ERROR: LeakSanitizer", "runtime error:"}) {
    if (const auto at = stderr_text.find(marker); at != std::string::npos) {
      ADD_FAILURE() << "the server reported: " << marker << "\n" << stderr_text.substr(at, 6000);
      return;
    }
  }
}

// A free TCP port on 127.0.0.1: bind to port 0, read what the kernel chose, close.
inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("free_port: socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("free_port: bind failed");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// A fresh directory under /tmp, removed with everything in it.
class scratch_dir {
 public:
  scratch_dir() {
    std::string pattern = "/tmp/gq-integration-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~scratch_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The environment a child gets: ours without the server's variables, then `extra`.
inline std::vector<std::string> child_environment(const env_map& extra) {
  auto is_server_variable = [](const std::string& name) {
    return name == "HOST" || name == "PORT" || name.rfind("QUEUE_", 0) == 0 ||
           name.rfind("DISCORD_", 0) == 0;
  };
  std::vector<std::string> result;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const std::string name = text.substr(0, text.find('='));
    if (!is_server_variable(name) && extra.count(name) == 0) result.push_back(text);
  }
  for (const auto& [name, value] : extra) result.push_back(name + "=" + value);
  return result;
}

// Starts GQ_BINARY with `args` and `env`, stdout and stderr to the given files, cwd `work_dir`.
// A `launcher` (an absolute path and its arguments, e.g. prlimit or unshare, which exec the
// binary in their place) runs it, so the PID is still the server's.
inline pid_t spawn_binary(const std::vector<std::string>& args, const env_map& env,
                          const std::string& work_dir, const std::string& stdout_path,
                          const std::string& stderr_path,
                          const std::vector<std::string>& launcher = {}) {
  // Copied from a string object rather than the literal: GCC 12 at -O2 under a sanitizer warns
  // (-Wstringop-overread, -Warray-bounds) about the literal's copy, depending on its length.
  static const std::string binary = GQ_BINARY;
  std::vector<std::string> argv_text = launcher;
  argv_text.push_back(binary);
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_text) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_text = child_environment(env);
  std::vector<char*> envp;
  for (auto& entry : env_text) envp.push_back(entry.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addchdir_np(&actions, work_dir.c_str());
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t all_signals;
  sigfillset(&all_signals);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attributes, &all_signals);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  pid_t pid = -1;
  const int error = ::posix_spawn(&pid, argv[0], &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) throw std::runtime_error("posix_spawn " + argv_text.front() + " failed");
  return pid;
}

// How a child ended: exit code, or the signal that killed it.
struct exit_status {
  std::optional<int> code;
  std::optional<int> signal;
  bool exited_with(int expected) const { return code && *code == expected; }
  std::string describe() const {
    if (code) return "exit code " + std::to_string(*code);
    if (signal) return "killed by signal " + std::to_string(*signal);
    return "still running";
  }
};

inline exit_status decode_wait_status(int status) {
  if (WIFEXITED(status)) return {WEXITSTATUS(status), std::nullopt};
  if (WIFSIGNALED(status)) return {std::nullopt, WTERMSIG(status)};
  return {};
}

// Waits up to `timeout` for `pid` to end; nullopt if it is still running then.
inline std::optional<exit_status> wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return decode_wait_status(status);
    if (done < 0) return exit_status{};  // not our child any more: treat as gone
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

// A run of the binary that is expected to end by itself (`--help`, a bad configuration).
struct run_result {
  exit_status status;
  std::string out;
  std::string err;
  bool timed_out = false;
};

inline run_result run_to_exit(const std::vector<std::string>& args, const env_map& env,
                              std::chrono::milliseconds timeout = 10s,
                              const std::vector<std::string>& launcher = {}) {
  scratch_dir dir;
  env_map full_env = env;
  full_env.emplace("QUEUE_DB", dir.file("gateway-queue.db"));
  const pid_t pid = spawn_binary(args, full_env, dir.path(), dir.file("stdout.log"),
                                 dir.file("stderr.log"), launcher);
  run_result result;
  if (auto status = wait_for_exit(pid, timeout)) {
    result.status = *status;
  } else {
    result.timed_out = true;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  result.out = read_text_file(dir.file("stdout.log"));
  result.err = read_text_file(dir.file("stderr.log"));
  expect_no_sanitizer_report(result.err);
  return result;
}

// One server under test. start() may be called again after stop()/kill9(): the restart uses the
// same journal and directory (and a new free port, so a socket in TIME_WAIT cannot get in the way).
class server_process {
 public:
  // `env`: the variables this server gets on top of HOST, PORT (free) and QUEUE_DB (in its
  // directory); an explicit QUEUE_DB wins. `args`: its command line.
  server_process(std::initializer_list<env_map::value_type> env = {},
                 std::vector<std::string> args = {})
      : env_(env), args_(std::move(args)) {}
  ~server_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    expect_no_sanitizer_report(stderr_text());
  }
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  // Sets a variable for the next start() (overriding one given at construction).
  void set_env(const std::string& name, const std::string& value) { env_[name] = value; }

  // Runs the server with at most `files` open file descriptors (soft and hard limit), so that its
  // connection cap, derived from the limit, is small enough for a test to reach.
  void limit_open_files(unsigned files) {
    launcher_ = {"/usr/bin/prlimit",
                 "--nofile=" + std::to_string(files) + ":" + std::to_string(files), "--"};
  }

  // Starts the binary and waits until GET /health answers 200 (polled every 20 ms, for at most
  // 10 s). Fails at once, with the server's output, if the process exits meanwhile.
  [[nodiscard]] ::testing::AssertionResult start() {
    if (pid_ > 0) return ::testing::AssertionFailure() << "server already running";
    port_ = free_port();
    env_map env = env_;
    env["HOST"] = "127.0.0.1";
    env["PORT"] = std::to_string(port_);
    env.emplace("QUEUE_DB", db_path());
    pid_ = spawn_binary(args_, env, dir_.path(), stdout_path(), stderr_path(), launcher_);

    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto status = wait_for_exit(pid_, 0ms)) {
        pid_ = -1;
        return ::testing::AssertionFailure()
               << "server exited during start-up (" << status->describe() << ")\n"
               << output();
      }
      httplib::Client client("127.0.0.1", port_);
      client.set_connection_timeout(0, 200000);
      client.set_read_timeout(1, 0);
      client.set_keep_alive(false);
      if (auto result = client.Get("/health"); result && result->status == 200) {
        return ::testing::AssertionSuccess();
      }
      std::this_thread::sleep_for(20ms);
    }
    return ::testing::AssertionFailure() << "GET /health did not answer 200 within 10 s\n"
                                         << output();
  }

  // SIGTERM, then waits up to `timeout` for the exit. Past it the process is SIGKILLed and the
  // result says "still running" (no code, no signal).
  exit_status stop(std::chrono::milliseconds timeout = 5s) {
    terminate();
    return wait(timeout);
  }

  // Sends SIGTERM without waiting (for tests that watch clients during the shutdown).
  void terminate() const {
    if (pid_ > 0) ::kill(pid_, SIGTERM);
  }
  // Waits for the exit after terminate(); see stop() for the timeout.
  exit_status wait(std::chrono::milliseconds timeout = 5s) {
    if (pid_ <= 0) return {};
    auto status = wait_for_exit(pid_, timeout);
    if (!status) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
    return status.value_or(exit_status{});
  }

  // A crash: SIGKILL, reaped at once.
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  [[nodiscard]] ::testing::AssertionResult restart() {
    if (pid_ > 0) stop();
    return start();
  }

  bool running() const { return pid_ > 0; }
  // True while the process has not exited (reaps it, keeping the status, if it has).
  bool alive() {
    if (pid_ <= 0) return false;
    if (auto status = wait_for_exit(pid_, 0ms)) {
      last_exit_ = *status;
      pid_ = -1;
      return false;
    }
    return true;
  }
  // How the process ended when alive() found it gone.
  const exit_status& last_exit() const { return last_exit_; }
  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string db_path() const { return dir_.file("gateway-queue.db"); }
  const std::string& dir() const { return dir_.path(); }
  std::string stdout_path() const { return dir_.file("stdout.log"); }
  std::string stderr_path() const { return dir_.file("stderr.log"); }
  std::string stdout_text() const { return read_text_file(stdout_path()); }
  std::string stderr_text() const { return read_text_file(stderr_path()); }
  // Both streams, labelled, for failure messages.
  std::string output() const {
    return "--- stdout ---\n" + stdout_text() + "--- stderr ---\n" + stderr_text();
  }

 private:
  scratch_dir dir_;
  env_map env_;
  std::vector<std::string> args_;
  std::vector<std::string> launcher_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  exit_status last_exit_;
};

}  // namespace gq::integration
