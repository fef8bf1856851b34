#include "src/app/history_command.hpp"

#include <iostream>
#include <nlohmann/json.hpp>

#include "src/http/history_json.hpp"
#include "storage/history.hpp"

namespace gq {

int run_history_command(const history_command& request) {
  try {
    storage::history reader{request.db_path};
    std::cout << http::history_json(reader.query(request.filter)).dump(2) << '\n';
    return 0;
  } catch (const storage::journal_error& e) {
    std::cerr << "gateway-queue history: " << e.what() << '\n';
    return 1;
  }
}

}  // namespace gq
