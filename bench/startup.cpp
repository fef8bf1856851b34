// bench/startup: how long a gateway-queue takes to serve on an existing journal.
//
//   startup --bin PATH --port N [--shard S] [--bot NAME] [--timeout-s T]
//
// Starts PATH (the server; QUEUE_DB and the rest come from this process's environment, HOST
// and PORT are set here) and measures, from the fork:
//   health_ms         the first 200 from GET /health (polled every 0.5 ms)
//   first_grant_ms    the 200 of a queue request (`/?shard=S`, or `/bots/NAME/?shard=S` with
//                     --bot: a server with a bots file) sent right after that
//   history_ms        the latency of the first GET /history (no filter, limit 100), sent right
//                     after the queue request and answered while it may still wait
//   history_again_ms  the latency of the next GET /history
// then stops the server with SIGTERM and waits for it. One JSON line on stdout, a summary on
// stderr. Used by `bench/run.sh startup`; results: docs/BENCHMARKS.md.

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "loopback_request.hpp"

namespace {

using gq::bench::send_request;
using steady = std::chrono::steady_clock;

double ms_since(steady::time_point start) {
  return std::chrono::duration<double, std::milli>(steady::now() - start).count();
}

// The status code of the whole response on `fd` (read until the server closes), 0 on failure.
int read_status(int fd) {
  std::string response;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    response.append(buffer, static_cast<std::size_t>(n));
  }
  close(fd);
  if (response.size() < 12 || response.compare(0, 5, "HTTP/") != 0) return 0;
  return std::atoi(response.c_str() + 9);
}

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string bin;
  int port_number = 0;
  std::uint64_t shard = 0;
  std::string bot;
  double timeout_s = 30;
  CLI::App app{"gateway-queue start-up benchmark"};
  app.add_option("--bin", bin, "the gateway-queue binary")->required();
  app.add_option("--port", port_number, "loopback port for the server")->required();
  app.add_option("--shard", shard, "shard of the queue request");
  app.add_option("--bot", bot, "the bot the queue request names (a bots file's name)");
  app.add_option("--timeout-s", timeout_s, "give up after this long");
  CLI11_PARSE(app, argc, argv);
  const auto port = static_cast<std::uint16_t>(port_number);

  const auto start = steady::now();
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    return 1;
  }
  if (pid == 0) {
    setenv("HOST", "127.0.0.1", 1);
    setenv("PORT", std::to_string(port).c_str(), 1);
    execl(bin.c_str(), bin.c_str(), static_cast<char*>(nullptr));
    std::perror("exec");
    _exit(127);
  }
  const auto deadline = start + std::chrono::duration<double>(timeout_s);
  nlohmann::json result{{"startup", true}};
  int rc = 0;
  std::optional<double> health_ms;
  while (steady::now() < deadline) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) break;
    if (const int fd = send_request(port, "/health"); fd >= 0 && read_status(fd) == 200) {
      health_ms = ms_since(start);
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds{500});
  }
  if (!health_ms) {
    std::fprintf(stderr, "startup: the server never answered /health\n");
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return 1;
  }
  result["health_ms"] = *health_ms;

  const std::string bot_prefix = bot.empty() ? "" : "/bots/" + bot;
  const int grant_fd = send_request(port, bot_prefix + "/?shard=" + std::to_string(shard));
  const auto history_sent = steady::now();
  const int history_fd = send_request(port, "/history");
  std::optional<double> grant_ms;
  std::optional<double> history_ms;
  int grant_status = 0;
  int history_status = 0;
  while ((!grant_ms || !history_ms) && steady::now() < deadline && grant_fd >= 0 &&
         history_fd >= 0) {
    if (!history_ms && readable(history_fd, 0)) {
      history_status = read_status(history_fd);
      history_ms = ms_since(history_sent);
    }
    if (!grant_ms && readable(grant_fd, 0)) {
      grant_status = read_status(grant_fd);
      grant_ms = ms_since(start);
    }
    pollfd fds[2] = {{grant_ms ? -1 : grant_fd, POLLIN, 0},
                     {history_ms ? -1 : history_fd, POLLIN, 0}};
    poll(fds, 2, 100);
  }
  const auto again_sent = steady::now();
  const int again_status = read_status(send_request(port, "/history"));
  const double again_ms = ms_since(again_sent);

  if (grant_status != 200 || history_status != 200 || again_status != 200) {
    std::fprintf(stderr, "startup: grant %d, history %d, history again %d (want 200)\n",
                 grant_status, history_status, again_status);
    rc = 1;
  }
  result["first_grant_ms"] = grant_ms ? nlohmann::json(*grant_ms) : nlohmann::json(nullptr);
  result["history_ms"] = history_ms ? nlohmann::json(*history_ms) : nlohmann::json(nullptr);
  result["history_again_ms"] = again_ms;

  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  std::fprintf(stderr,
               "   /health after %.1f ms; first grant after %.1f ms; first /history %.1f ms, "
               "next %.1f ms\n",
               *health_ms, grant_ms.value_or(-1), history_ms.value_or(-1), again_ms);
  std::printf("%s\n", result.dump().c_str());
  return rc;
}
