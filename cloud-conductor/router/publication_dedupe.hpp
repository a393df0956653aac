// What the conductor remembers of acknowledged publications (ew.conductor.publish, fn.report):
// per (board, spool stream) the spool's identity and the highest seq taken, so that a record a
// board sends again after a reconnect (its acknowledgement was lost in the cut) is answered as a
// duplicate instead of being routed or stored twice.
//
// Bounded input: a board names its streams, so each board holds at most max_streams_per_board
// entries (its least recently used go first) and the table at most max_entries (the least
// recently used board's entries go first). A forgotten entry only weakens the guarantee for that
// stream: one record re-sent later may be delivered twice (at-least-once), never lost. The table
// is in memory: a conductor restart forgets it the same way.
//
// Not thread-safe: the owner serializes (the router's strand; a mutex in the deployer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ew::router {

struct PublicationDedupeOptions {
  // Streams one board may have remembered: a board has a few (gpio.event, fn.report, one per
  // flow wire it sends on).
  size_t max_streams_per_board = 64;
  // Entries over all boards (~300 bytes each): 64k ≈ 20 MB at worst.
  size_t max_entries = 65'536;
};

class PublicationDedupe {
 public:
  explicit PublicationDedupe(PublicationDedupeOptions options = {}) : options_(options) {}

  // Whether `seq` of (board, stream) has not been taken yet: true when it is above the last
  // taken, or the stream is unknown, or `spool` differs from the one remembered (the board's
  // spool was recreated and numbers from 1 again).
  bool IsNew(std::string_view board, std::string_view spool, std::string_view stream, uint64_t seq);
  // Records `seq` as taken (the highest so far for the stream), evicting as the bounds say.
  void Mark(std::string_view board, std::string_view spool, std::string_view stream, uint64_t seq);
  // The highest seq taken for (board, stream) of `spool`, 0 when none.
  uint64_t Last(std::string_view board, std::string_view spool, std::string_view stream) const;
  // Forgets a board (deleted).
  void ForgetBoard(std::string_view board);

  size_t entries() const { return entries_; }
  size_t boards() const { return boards_.size(); }
  uint64_t evicted() const { return evicted_; }

 private:
  struct Stream {
    std::string name;
    std::string spool;
    uint64_t last = 0;
  };
  struct Board {
    std::list<Stream> streams;               // most recently used first; short (per-board bound)
    std::list<std::string>::iterator lru;    // position in boards_lru_
  };
  Stream* Find(Board& board, std::string_view stream);
  void Touch(Board& board);
  void EvictOldestBoard();

  PublicationDedupeOptions options_;
  std::unordered_map<std::string, Board> boards_;
  std::list<std::string> boards_lru_;  // most recently used first
  size_t entries_ = 0;
  uint64_t evicted_ = 0;
};

}  // namespace ew::router
