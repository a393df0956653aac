// The event-stream grammar of the HTML Living Standard (9.2.6), minus ids and retry times.
#include "cloud-conductor/cli/event_stream.hpp"

namespace ew::cli {

std::vector<ServerSentEvent> EventStreamParser::Feed(std::string_view bytes) {
  std::vector<ServerSentEvent> done;
  for (size_t start = 0; start < bytes.size();) {
    const size_t end = bytes.find('\n', start);
    if (end == std::string_view::npos) {
      partial_.append(bytes.substr(start));
      break;
    }
    partial_.append(bytes.substr(start, end - start));
    if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
    Line(partial_, &done);
    partial_.clear();
    start = end + 1;
  }
  return done;
}

void EventStreamParser::Line(std::string_view line, std::vector<ServerSentEvent>* done) {
  if (line.empty()) {
    if (has_data_) done->push_back(std::move(current_));
    current_ = ServerSentEvent();
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // a comment: keepalive
  const size_t colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (has_data_) current_.data += '\n';
    current_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    current_.type = value.empty() ? "message" : std::string(value);
  }
}

}  // namespace ew::cli
