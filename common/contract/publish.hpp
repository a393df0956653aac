// ew.conductor.publish: publications a board wants acknowledged. The agent's spool keeps a
// record until the conductor has taken it (docs/ARCHITECTURE.md, "Agent spool"); Autobahn|Cpp
// does not surface PUBLISHED, so a board publishes what must not be lost through this call, whose
// RESULT is the acknowledgement. Each record carries its spool sequence number: the conductor
// routes a record once per (board, spool, stream, seq) and answers a re-sent one (a reply lost
// in a network cut) as a duplicate without routing it again.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/contract/procedure.hpp"

namespace ew::contract::publish {

// Records in one call at most: a bounded amount of routing per CALL.
inline constexpr size_t kMaxRecords = 256;

// One publication: its spool seq (>= 1) and what subscribers get (args, kwargs).
struct Record {
  uint64_t seq = 0;
  wamp::Payload payload;
};

// Request: {topic, spool, stream, records: [{seq, args?, kwargs?}, 1..kMaxRecords]}.
//   topic  - a topic the board may publish (its ew.board.<id>.* or a flow wire it holds);
//   spool  - the spool's identity, 1-64 of [A-Za-z0-9_-] (a new spool numbers from 1 again);
//   stream - the spool stream the seqs count in, 1-200 of [A-Za-z0-9_.-];
//   seqs strictly increasing within the call (gaps allowed: records dropped at the bound).
struct PublishRequest {
  std::string topic;
  std::string spool;
  std::string stream;
  std::vector<Record> records;
  wamp::Payload ToPayload() const;
  static Result<PublishRequest> Parse(const wamp::Payload& payload);
};

// Reply: {through, routed, duplicates}: every record up to seq `through` is taken (the spool may
// forget them); `routed` were delivered now, `duplicates` had been before.
struct PublishReply {
  uint64_t through = 0;
  uint64_t routed = 0;
  uint64_t duplicates = 0;
  wamp::Payload ToPayload() const;
  static Result<PublishReply> Parse(const wamp::Payload& payload);
};

inline constexpr ConductorProcedure<PublishRequest, PublishReply> kPublish{"ew.conductor.publish"};

}  // namespace ew::contract::publish
