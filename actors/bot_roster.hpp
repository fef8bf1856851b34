#pragma once
// The bots of an active queue as the HTTP edge routes to them: who they are (names, tokens) and
// where each bot's waiters go (its gate). Main builds one whole roster per term and per reload
// and sends it to the edge; a roster never changes once sent.

#include <caf/allowed_unsafe_message_type.hpp>
#include <memory>
#include <unordered_map>

#include "actors/gate.hpp"
#include "actors/ledger.hpp"
#include "src/http/bot_directory.hpp"

namespace gq {

struct bot_roster {
  http::bot_directory directory;
  std::unordered_map<bot_key, gate_actor> gates;  // one per bot of the directory
  ledger_actor ledger;                            // every bot's: stopped with the queue

  const gate_actor* gate_of(bot_key key) const {
    auto found = gates.find(key);
    return found == gates.end() ? nullptr : &found->second;
  }
};

using bot_roster_ptr = std::shared_ptr<const bot_roster>;

// The single default bot of a queue without a bots file, as tests and tools build it.
inline bot_roster_ptr single_bot_roster(gate_actor gate, ledger_actor ledger, bot_key key = 0) {
  auto roster = std::make_shared<bot_roster>();
  roster->directory.add(key, std::string(k_default_bot), {});
  roster->gates.emplace(key, std::move(gate));
  roster->ledger = std::move(ledger);
  return roster;
}

}  // namespace gq

// Travels only between actors of this process, never serialized.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gq::bot_roster_ptr)
