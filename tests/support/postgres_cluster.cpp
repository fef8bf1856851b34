// ctest's fixture for one PostgreSQL cluster shared by every test process of a run, so that each
// test (ctest runs each in a process of its own) does not pay for initdb and a start:
//   postgres_cluster start FILE   starts a throwaway cluster and writes "DIR PORT" to FILE
//   postgres_cluster stop FILE    stops that cluster, removes its directory, then FILE
// Test binaries find FILE through GQ_POSTGRES_CLUSTER_FILE (support/postgres_server.hpp).
#include <cstdio>
#include <exception>
#include <fstream>
#include <string>

#include "support/postgres_server.hpp"

int main(int argc, char** argv) {
  const std::string usage = "usage: postgres_cluster start|stop FILE";
  if (argc != 3) {
    std::fprintf(stderr, "%s\n", usage.c_str());
    return 2;
  }
  const std::string command = argv[1];
  const std::string file = argv[2];
  try {
    if (command == "start") {
      gq::testing::postgres_server server;
      std::ofstream(file, std::ios::trunc) << server.dir() << " " << server.port() << "\n";
      server.keep();
      std::printf("PostgreSQL cluster on 127.0.0.1:%d in %s\n", server.port(),
                  server.dir().c_str());
      return 0;
    }
    if (command == "stop") {
      std::ifstream in(file);
      std::string dir;
      int port = 0;
      if (!(in >> dir >> port)) {
        std::fprintf(stderr, "no cluster recorded in %s\n", file.c_str());
        return 1;
      }
      gq::testing::postgres_server::attach(dir, port, true).reset();  // stops and removes it
      std::remove(file.c_str());
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "postgres_cluster %s: %s\n", command.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr, "%s\n", usage.c_str());
  return 2;
}
