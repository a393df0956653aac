// One or more realistic instances of every WAMP message, shared by the codec tests and the fuzz
// loop (its seeds). Covers progressive calls, cancel/interrupt modes and wampcra authentication.
#pragma once

#include <string>
#include <vector>

#include "common/wamp/message.hpp"

namespace ew::wamp {

struct SampleMessage {
  std::string name;
  Message message;
};

inline Payload MakePayload(Value args, Value kwargs = Value::object()) {
  Payload p;
  p.args = std::move(args);
  p.kwargs = std::move(kwargs);
  return p;
}

inline std::vector<SampleMessage> SampleMessages() {
  const std::string board_gpio_read = "ew.board.brd-3f9a0c1d2e4b5a69.gpio.read";
  std::vector<SampleMessage> s;
  s.push_back({"hello", Hello{"edgewire", {{"roles", {{"caller", {{"features", {{"progressive_call_results", true},
                                                                                  {"call_canceling", true}}}}},
                                                      {"callee", Value::object()},
                                                      {"publisher", Value::object()},
                                                      {"subscriber", Value::object()}}},
                                           {"authmethods", {"wampcra", "ticket"}},
                                           {"authid", "brd-3f9a0c1d2e4b5a69"}}}});
  s.push_back({"welcome", Welcome{Id{1} << 53, {{"authrole", "board"}, {"roles", {{"dealer", Value::object()}}}}}});
  s.push_back({"abort", Abort{{{"message", "no such realm"}}, "wamp.error.no_such_realm"}});
  s.push_back({"challenge_wampcra",
               Challenge{"wampcra", {{"challenge", R"({"nonce":"LHRTC9zeOIrt_9U3","authid":"brd-1"})"},
                                     {"salt", "salt123"},
                                     {"keylen", 32},
                                     {"iterations", 1000}}}});
  s.push_back({"authenticate", Authenticate{"APO4Z6Z0+ZsQ2sGZbFqN1yMQ4kX2WUmy4Uwr8PF1lhU=", Value::object()}});
  s.push_back({"goodbye", Goodbye{Value::object(), "wamp.close.close_realm"}});
  s.push_back({"goodbye_with_message", Goodbye{{{"message", "shutting down"}}, "wamp.close.system_shutdown"}});
  s.push_back({"error_with_payload", ErrorMessage{MessageType::kCall, 7, Value::object(), "wamp.error.invalid_argument",
                                                  MakePayload({"bad line"}, {{"line", 99}})}});
  s.push_back({"error_bare", ErrorMessage{MessageType::kSubscribe, 8, Value::object(), "wamp.error.not_authorized", {}}});
  s.push_back({"error_kwargs_only", ErrorMessage{MessageType::kInvocation, 9, Value::object(), "ew.error.unavailable",
                                                 MakePayload(Value::array(), {{"retry_after", 1.5}})}});
  s.push_back({"publish", Publish{1, {{"acknowledge", true}, {"exclude_me", false}},
                                  "ew.board.brd-3f9a0c1d2e4b5a69.gpio.event",
                                  MakePayload(Value::array({Value{{"line", 17}, {"edge", "rising"}}}))}});
  s.push_back({"published", Published{1, 2}});
  s.push_back({"subscribe_wildcard", Subscribe{2, {{"match", "wildcard"}}, "ew.board..gpio.event"}});
  s.push_back({"subscribed", Subscribed{2, 12345}});
  s.push_back({"unsubscribe", Unsubscribe{3, 12345}});
  s.push_back({"unsubscribed", Unsubscribed{3}});
  s.push_back({"event", Event{12345, 999, {{"publisher", 42}}, MakePayload({1, 2, 3}, {{"k", "v"}})}});
  s.push_back({"call_progressive", Call{4, {{"receive_progress", true}, {"timeout", 5000}}, board_gpio_read,
                                        MakePayload({17})}});
  s.push_back({"call_bare", Call{5, Value::object(), "ew.conductor.board.hello", {}}});
  s.push_back({"cancel_killnowait", Cancel{4, {{"mode", "killnowait"}}}});
  s.push_back({"result_progress", Result{4, {{"progress", true}}, MakePayload({0.5})}});
  s.push_back({"result_final", Result{4, Value::object(), MakePayload({1}, {{"value", 1}})}});
  s.push_back({"result_empty", Result{5, Value::object(), {}}});
  s.push_back({"register_prefix", Register{5, {{"match", "prefix"}, {"invoke", "single"}},
                                           "ew.board.brd-3f9a0c1d2e4b5a69.fn"}});
  s.push_back({"registered", Registered{5, 777}});
  s.push_back({"unregister", Unregister{6, 777}});
  s.push_back({"unregistered", Unregistered{6}});
  s.push_back({"invocation_progressive", Invocation{8, 777, {{"receive_progress", true}, {"caller", 42}},
                                                    MakePayload({"x"}, {{"y", nullptr}, {"z", {1, {2, 3}}}})}});
  s.push_back({"interrupt_kill", Interrupt{8, {{"mode", "kill"}}}});
  s.push_back({"yield_progress", Yield{8, {{"progress", true}}, MakePayload(Value::array({Value{{"partial", 1}}}))}});
  s.push_back({"yield_kwargs_only", Yield{8, Value::object(), MakePayload(Value::array(), {{"only", "kwargs"}})}});
  return s;
}

}  // namespace ew::wamp
