#pragma once
// A throwaway PostgreSQL 15 cluster for tests: initdb into a fresh temporary directory, listening
// on 127.0.0.1 at a free port (and on a unix socket in that directory), stopped with
// "pg_ctl -m immediate stop" and removed at the end. As root, initdb and pg_ctl run as the
// postgres user (they refuse root). Local and loopback connections of user postgres are
// trusted; user k_password_user must log in with k_password over TCP (scram-sha-256), so tests
// can check where a password goes.
//
// postgres_server::shared() is the one cluster of a test binary, started at its first use and
// stopped by a GoogleTest global environment; each test takes a fresh database of it. Under ctest
// every test process shares one cluster instead: the fixture test postgres.cluster_start
// (tests/support/postgres_cluster.cpp) starts it and writes where it is to
// GQ_POSTGRES_CLUSTER_FILE, and postgres.cluster_stop stops it after the last test.

#include <arpa/inet.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace gq::testing {

inline constexpr const char* k_postgres_bin = "/usr/lib/postgresql/15/bin";
inline constexpr const char* k_password_user = "gq_secret_user";
inline constexpr const char* k_password = "Pw-n0t-for-logs-7319";

// A port nothing listens on right now (the kernel's pick for 127.0.0.1:0).
inline int free_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t size = sizeof address;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("cannot pick a free port");
  }
  close(fd);
  return ntohs(address.sin_port);
}

class postgres_server {
 public:
  // Throws std::runtime_error saying what is missing or what failed (with the server log).
  postgres_server() {
    // A path, not std::string + literal: GCC 12 at -O2 misreads that concatenation here as an
    // out-of-bounds copy (-Warray-bounds) in some translation units.
    if (!std::filesystem::exists(std::filesystem::path(k_postgres_bin) / "initdb")) {
      throw std::runtime_error(std::string("PostgreSQL 15 is not installed (no ") + k_postgres_bin +
                               "/initdb); scripts/setup.sh installs the postgresql package");
    }
    std::string pattern = "/tmp/gq-postgres-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    as_postgres_ = geteuid() == 0;
    if (as_postgres_) {
      const passwd* user = getpwnam("postgres");
      if (user == nullptr)
        throw std::runtime_error("running as root but there is no postgres user");
      if (chown(dir_.c_str(), user->pw_uid, user->pw_gid) != 0) {
        throw std::runtime_error("cannot chown " + dir_ + " to postgres");
      }
    }
    port_ = free_loopback_port();
    run(bin("initdb") + " -D " + data() + " -U postgres -A trust --no-sync >" + dir_ +
            "/initdb.log 2>&1",
        "initdb");
    std::ofstream(data() + "/pg_hba.conf", std::ios::trunc)
        << "local all all trust\n"
        << "host all " << k_password_user << " 127.0.0.1/32 scram-sha-256\n"
        << "host all all 127.0.0.1/32 trust\n";
    start();
    admin("CREATE ROLE " + std::string(k_password_user) + " LOGIN PASSWORD '" + k_password + "'");
  }

  ~postgres_server() {
    if (!owner_) return;
    if (running_) stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // A running cluster started by another process (`dir`, `port` as dir() and port() said there).
  // As `owner` this one stops and removes it at the end; else it leaves it alone.
  static std::unique_ptr<postgres_server> attach(const std::string& dir, int port, bool owner) {
    return std::unique_ptr<postgres_server>(new postgres_server(dir, port, owner));
  }
  // Leaves the cluster running and its directory in place at the end (for attach()).
  void keep() { owner_ = false; }
  const std::string& dir() const { return dir_; }
  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;

  void start() {
    run(bin("pg_ctl") + " -D " + data() + " -l " + dir_ + "/server.log -w -o \"-p " +
            std::to_string(port_) + " -k " + dir_ +
            " -c listen_addresses=127.0.0.1 -c fsync=on\" start >/dev/null",
        "pg_ctl start");
    running_ = true;
  }

  // Like a crash of the server: no shutdown checkpoint, clients see their connection drop.
  void stop() {
    running_ = false;
    run(bin("pg_ctl") + " -D " + data() + " -m immediate -w stop >/dev/null", "pg_ctl stop");
  }

  int port() const { return port_; }

  // A URI for `database` over loopback TCP as user postgres (trusted, no password).
  std::string uri(const std::string& database) const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
  }

  // A new empty database with a unique name, owned by `owner`; returns its name.
  std::string create_database(const std::string& owner = "postgres") {
    static std::atomic<int> counter{0};
    const std::string name =
        "gq_test_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
    admin("CREATE DATABASE " + name + " OWNER " + owner);
    return name;
  }

  // Runs SQL as postgres in `database`; throws with the server's reason. Returns the first column
  // of every row as text ("NULL" for null).
  std::vector<std::string> admin(const std::string& sql, const std::string& database = "postgres") {
    std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(uri(database).c_str()),
                                                      &PQfinish);
    if (PQstatus(conn.get()) != CONNECTION_OK) {
      throw std::runtime_error(std::string("admin connect: ") + PQerrorMessage(conn.get()));
    }
    std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(conn.get(), sql.c_str()), &PQclear);
    const ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw std::runtime_error("admin: " + std::string(PQerrorMessage(conn.get())) + " in: " + sql);
    }
    std::vector<std::string> rows;
    for (int row = 0; row < PQntuples(result.get()); ++row) {
      rows.emplace_back(PQgetisnull(result.get(), row, 0) != 0 ? "NULL"
                                                               : PQgetvalue(result.get(), row, 0));
    }
    return rows;
  }

  // The binary's shared cluster, started on first use; throws (every time) if it cannot start.
  static postgres_server& shared() {
    static std::string failure;
    static std::unique_ptr<postgres_server> server = [] {
      if (auto run_wide = run_wide_cluster()) return run_wide;
      try {
        return std::make_unique<postgres_server>();
      } catch (const std::exception& e) {
        failure = e.what();
        return std::unique_ptr<postgres_server>();
      }
    }();
    if (!server) throw std::runtime_error("cannot start a PostgreSQL test cluster: " + failure);
    shared_instance() = server.get();
    return *server;
  }

  // Stops the shared cluster, if it was started; the global environment's TearDown.
  static void stop_shared() {
    if (postgres_server* server = shared_instance();
        server != nullptr && server->owner_ && server->running_) {
      server->stop();
    }
  }

 private:
  postgres_server(std::string dir, int port, bool owner)
      : dir_(std::move(dir)),
        port_(port),
        as_postgres_(geteuid() == 0),
        running_(true),
        owner_(owner) {}

  // The ctest run's cluster when there is one and it answers; null otherwise (a test binary run
  // on its own, or a file left by a run that was killed).
  static std::unique_ptr<postgres_server> run_wide_cluster() {
#ifdef GQ_POSTGRES_CLUSTER_FILE
    std::ifstream file(GQ_POSTGRES_CLUSTER_FILE);
    std::string dir;
    int port = 0;
    if (!(file >> dir >> port)) return nullptr;
    auto server = attach(dir, port, false);
    try {
      server->admin("SELECT 1");
      return server;
    } catch (const std::exception&) {
      return nullptr;
    }
#else
    return nullptr;
#endif
  }

  static postgres_server*& shared_instance() {
    static postgres_server* instance = nullptr;
    return instance;
  }

  std::string data() const { return dir_ + "/data"; }
  std::string bin(const char* name) const {
    return (as_postgres_ ? "runuser -u postgres -- " : "") + std::string(k_postgres_bin) + "/" +
           name;
  }
  void run(const std::string& command, const char* what) {
    if (std::system(command.c_str()) != 0) {
      std::ifstream log(dir_ + "/server.log");
      std::ifstream init(dir_ + "/initdb.log");
      throw std::runtime_error(std::string(what) + " failed: " + command + "\n" +
                               std::string(std::istreambuf_iterator<char>(init), {}) +
                               std::string(std::istreambuf_iterator<char>(log), {}));
    }
  }

  std::string dir_;
  int port_ = 0;
  bool as_postgres_ = false;
  bool running_ = false;
  bool owner_ = true;  // stops and removes the cluster at the end
};

// Stops the shared cluster when the binary's tests are done (kill -9 of the binary leaves it
// running: its directory under /tmp names it).
class postgres_environment : public ::testing::Environment {
 public:
  void TearDown() override { postgres_server::stop_shared(); }
};

inline ::testing::Environment* const k_postgres_environment =
    ::testing::AddGlobalTestEnvironment(new postgres_environment);

}  // namespace gq::testing
