// The conductor's side of ew.conductor.publish for agent unit tests: parses the call with the
// real contract and routes each record once per (spool, stream, seq), as the router does
// (cloud-conductor/router/handle_acked_publish.cpp), recording what subscribers would get.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/contract/publish.hpp"

namespace ew::testing {

class AckedPublications {
 public:
  struct Event {
    std::string topic;
    std::string stream;
    uint64_t seq = 0;
    nlohmann::json args, kwargs;
  };

  // Answers one call's kwargs: the reply {through, routed, duplicates} or the contract's error.
  Result<wamp::Payload> Take(const nlohmann::json& kwargs) {
    ++calls;
    auto request = contract::publish::PublishRequest::Parse(wamp::Payload{nlohmann::json::array(), kwargs});
    if (!request) return tl::unexpected(request.error());
    contract::publish::PublishReply reply;
    uint64_t& last = last_[{request->spool, request->stream}];
    for (auto& record : request->records) {
      if (record.seq <= last) {
        ++reply.duplicates;
        ++duplicates;
        continue;
      }
      last = record.seq;
      events.push_back({request->topic, request->stream, record.seq, record.payload.args, record.payload.kwargs});
      ++reply.routed;
    }
    reply.through = request->records.back().seq;
    return reply.ToPayload();
  }

  std::vector<Event> On(const std::string& topic) const {
    std::vector<Event> out;
    for (const auto& e : events)
      if (e.topic == topic) out.push_back(e);
    return out;
  }

  std::vector<Event> events;
  uint64_t calls = 0;
  uint64_t duplicates = 0;

 private:
  std::map<std::pair<std::string, std::string>, uint64_t> last_;
};

}  // namespace ew::testing
