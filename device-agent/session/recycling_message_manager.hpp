// The message buffers of the agent's WebSocket connection (websocketpp's config
// con_msg_manager_type). websocketpp's default manager makes a new message for every frame it
// reads and two for every frame it sends (the message, then the masked frame): a shared_ptr and
// a payload buffer each, six heap blocks per board call. This one keeps the first kKept messages
// it makes and lends one out again once nobody else holds it, with its buffers' capacity kept;
// it is the "recycling" websocketpp's message_buffer interface leaves to the manager.
//
// A lent message is reset to what a new one holds (opcode, flags, header, empty payload). The
// extension data is not reset: it is written only by permessage-deflate, which the agent's
// configs leave off. A kept message that nobody holds gives its payload buffer back once it has
// grown past kMaxKeptBytes (looked at on every lend), so one large frame does not pin its memory
// for the connection's life (a header is at most 14 bytes).
//
// Threading: one manager per connection, used on the agent's io thread only (a message's
// use_count is read unlocked).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <websocketpp/frame.hpp>

namespace ew::agent::session {

template <typename Message>
class RecyclingMessageManager : public std::enable_shared_from_this<RecyclingMessageManager<Message>> {
 public:
  using type = RecyclingMessageManager;
  using ptr = std::shared_ptr<RecyclingMessageManager>;
  using weak_ptr = std::weak_ptr<RecyclingMessageManager>;
  using message_ptr = typename Message::ptr;

  static constexpr size_t kKept = 4;                 // messages kept for reuse
  static constexpr size_t kMaxKeptBytes = 64 << 10;  // payload capacity kept

  // An empty message (the frame a message is prepared into).
  message_ptr get_message() { return Lend(websocketpp::frame::opcode::continuation, 0); }
  // An empty message of opcode `op`, with room for `size` payload bytes.
  message_ptr get_message(websocketpp::frame::opcode::value op, size_t size) { return Lend(op, size); }
  // websocketpp's hook for a message that is done with; unused (messages come back by use_count).
  bool recycle(Message*) { return false; }

 private:
  message_ptr Lend(websocketpp::frame::opcode::value op, size_t size) {
    message_ptr lent;
    for (const message_ptr& kept : kept_) {
      if (kept.use_count() != 1) continue;  // still lent out
      std::string& payload = kept->get_raw_payload();
      if (payload.capacity() > kMaxKeptBytes) std::string().swap(payload);
      if (lent) continue;
      Reset(*kept, op);
      payload.reserve(size);
      lent = kept;
    }
    if (lent) return lent;
    auto fresh = std::make_shared<Message>(this->shared_from_this(), op, size);
    if (kept_.size() < kKept) kept_.push_back(fresh);
    return fresh;
  }

  static void Reset(Message& m, websocketpp::frame::opcode::value op) {
    m.get_raw_payload().clear();
    m.set_header("");
    m.set_opcode(op);
    m.set_prepared(false);
    m.set_fin(true);
    m.set_terminal(false);
    m.set_compressed(false);
  }

  std::vector<message_ptr> kept_;
};

}  // namespace ew::agent::session
