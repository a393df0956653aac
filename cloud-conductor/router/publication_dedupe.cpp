#include "cloud-conductor/router/publication_dedupe.hpp"

namespace ew::router {

PublicationDedupe::Stream* PublicationDedupe::Find(Board& board, std::string_view stream) {
  for (auto it = board.streams.begin(); it != board.streams.end(); ++it) {
    if (it->name != stream) continue;
    if (it != board.streams.begin()) board.streams.splice(board.streams.begin(), board.streams, it);
    return &board.streams.front();
  }
  return nullptr;
}

void PublicationDedupe::Touch(Board& board) {
  if (board.lru != boards_lru_.begin()) boards_lru_.splice(boards_lru_.begin(), boards_lru_, board.lru);
}

bool PublicationDedupe::IsNew(std::string_view board_id, std::string_view spool, std::string_view stream,
                              uint64_t seq) {
  return seq > Last(board_id, spool, stream);
}

uint64_t PublicationDedupe::Last(std::string_view board_id, std::string_view spool, std::string_view stream) const {
  auto it = boards_.find(std::string(board_id));
  if (it == boards_.end()) return 0;
  for (const Stream& s : it->second.streams) {
    if (s.name == stream) return s.spool == spool ? s.last : 0;
  }
  return 0;
}

void PublicationDedupe::Mark(std::string_view board_id, std::string_view spool, std::string_view stream,
                             uint64_t seq) {
  auto it = boards_.find(std::string(board_id));
  if (it == boards_.end()) {
    boards_lru_.emplace_front(board_id);
    it = boards_.emplace(std::string(board_id), Board{}).first;
    it->second.lru = boards_lru_.begin();
  } else {
    Touch(it->second);
  }
  Board& board = it->second;
  if (Stream* s = Find(board, stream)) {
    if (s->spool != spool) {
      s->spool = std::string(spool);
      s->last = seq;
    } else if (seq > s->last) {
      s->last = seq;
    }
    return;
  }
  board.streams.push_front(Stream{std::string(stream), std::string(spool), seq});
  ++entries_;
  if (board.streams.size() > options_.max_streams_per_board) {
    board.streams.pop_back();
    --entries_;
    ++evicted_;
  }
  while (entries_ > options_.max_entries && boards_lru_.size() > 1) EvictOldestBoard();
}

void PublicationDedupe::EvictOldestBoard() {
  auto it = boards_.find(boards_lru_.back());
  entries_ -= it->second.streams.size();
  evicted_ += it->second.streams.size();
  boards_.erase(it);
  boards_lru_.pop_back();
}

void PublicationDedupe::ForgetBoard(std::string_view board_id) {
  auto it = boards_.find(std::string(board_id));
  if (it == boards_.end()) return;
  entries_ -= it->second.streams.size();
  boards_lru_.erase(it->second.lru);
  boards_.erase(it);
}

}  // namespace ew::router
