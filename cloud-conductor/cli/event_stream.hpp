// EventStreamParser: the text/event-stream framing (Server-Sent Events) the conductor uses for
// GPIO events, cut into events as bytes arrive. What a browser's EventSource does with lines:
// `data:` lines join into the data, `event:` names the type, `:` lines are comments
// (keepalives), a blank line ends an event. `id:` and `retry:` are ignored (the conductor sends
// none). Lines end with "\n" or "\r\n".
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ew::cli {

struct ServerSentEvent {
  std::string type = "message";  // `event:`, else "message"
  std::string data;              // the `data:` lines joined by "\n"
};

class EventStreamParser {
 public:
  // Takes the next bytes of the body; returns the events they complete, in order.
  std::vector<ServerSentEvent> Feed(std::string_view bytes);

 private:
  void Line(std::string_view line, std::vector<ServerSentEvent>* done);

  std::string partial_;     // an unfinished line
  ServerSentEvent current_;
  bool has_data_ = false;
};

}  // namespace ew::cli
