#include "src/app/history_command.hpp"

#include <iostream>
#include <nlohmann/json.hpp>

#include "src/http/history_json.hpp"
#include "storage/journal.hpp"
#include "storage/sqlite/history.hpp"

namespace gq {

int run_history_command(const history_command& request) {
  try {
    std::vector<release_record> rows;
    if (storage::is_postgres_location(request.db_path)) {
      // Deferred: a journal at the current schema is only read, never written (a newer or
      // foreign database is refused, a new one gets its schema as at any first open).
      rows = storage::open_journal(request.db_path,
                                   {storage::durability::full, storage::integrity_check::deferred})
                 ->history(request.filter);
    } else {
      rows = storage::history{request.db_path}.query(request.filter);
    }
    std::cout << http::history_json(rows).dump(2) << '\n';
    return 0;
  } catch (const storage::journal_error& e) {
    std::cerr << "gateway-queue history: " << e.what() << '\n';
    return 1;
  }
}

}  // namespace gq
