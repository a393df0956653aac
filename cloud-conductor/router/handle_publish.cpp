// The broker: PUBLISH fan-out to exact and prefix subscriptions (exclude_me, acknowledge,
// publisher disclosure), SUBSCRIBE with per-project authorization, UNSUBSCRIBE.
#include "cloud-conductor/router/session.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "common/wamp/uri.hpp"

namespace ew::router {

namespace {
constexpr char kSessionLeaveTopic[] = "wamp.session.on_leave";
}  // namespace

void Router::HandlePublish(const SessionPtr& s, wamp::Publish&& m) {
  bool acknowledge = BoolOption(m.options, "acknowledge", false);
  if (!wamp::IsValidUri(m.topic)) {
    if (acknowledge)
      SendError(s, wamp::MessageType::kPublish, m.request, "wamp.error.invalid_uri",
                "\"" + m.topic + "\" is not a valid topic URI");
    return;
  }
  if (auto allowed = MayPublish(*s, m.topic); !allowed) {
    if (acknowledge)
      SendError(s, wamp::MessageType::kPublish, m.request, "wamp.error.not_authorized", allowed.error().message);
    return;
  }
  if (s->role == Role::kBoard && !publication_listeners_.empty()) {
    // MayPublish let a board through only under its own prefix.
    const std::string prefix = "ew.board." + s->board_id + ".";
    if (m.topic.compare(0, prefix.size(), prefix) == 0) {
      const std::string suffix = m.topic.substr(prefix.size());
      for (const auto& listener : publication_listeners_) listener(s->board_id, suffix, m.payload);
    }
  }
  wamp::Id publication = Publish(s.get(), m.topic, m.payload, BoolOption(m.options, "exclude_me", true),
                                 BoolOption(m.options, "disclose_me", false));
  if (acknowledge) {
    wamp::Published reply;
    reply.request = m.request;
    reply.publication = publication;
    Send(s, reply);
  }
}

wamp::Id Router::Publish(const Session* publisher, const std::string& topic, const wamp::Payload& payload,
                     bool exclude_me, bool disclose_me) {
  publications_total_.Inc();
  wamp::Id publication = ids::NewWampId();
  auto deliver = [&](const Subscription& sub) {
    wamp::Event event;
    event.subscription = sub.id;
    event.publication = publication;
    event.payload = payload;
    if (sub.prefix) event.details["topic"] = topic;
    if (disclose_me && publisher) {
      event.details["publisher"] = publisher->id;
      event.details["publisher_authid"] = publisher->authid;
    }
    // Encode once per serializer, not once per subscriber.
    std::string encoded[2];
    for (auto& [id, weak] : sub.subscribers) {
      auto subscriber = weak.lock();
      if (!subscriber || subscriber->state != Session::State::kEstablished) continue;
      if (exclude_me && publisher && subscriber.get() == publisher) continue;
      auto ser = subscriber->transport->serializer();
      auto& frame = encoded[ser == wamp::Serializer::kJson ? 0 : 1];
      if (frame.empty()) frame = wamp::Encode(ser, event);
      subscriber->transport->Send(frame);
    }
  };
  if (auto it = topics_.find({topic, false}); it != topics_.end()) deliver(subscriptions_.at(it->second));
  // Prefix subscriptions: every whole-component prefix of the topic, the topic itself included.
  for (size_t pos = 0;;) {
    size_t dot = topic.find('.', pos);
    std::string prefix = topic.substr(0, dot);
    if (auto it = topics_.find({prefix, true}); it != topics_.end()) deliver(subscriptions_.at(it->second));
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return publication;
}

void Router::HandleSubscribe(const SessionPtr& s, wamp::Subscribe&& m) {
  std::string match = "exact";
  if (auto it = m.options.find("match"); it != m.options.end() && it->is_string()) match = it->get<std::string>();
  if (match != "exact" && match != "prefix")
    return SendError(s, wamp::MessageType::kSubscribe, m.request, "wamp.error.invalid_argument",
                     "match must be exact or prefix");
  bool prefix = match == "prefix";
  if (!wamp::IsValidUri(m.topic))
    return SendError(s, wamp::MessageType::kSubscribe, m.request, "wamp.error.invalid_uri",
                     "\"" + m.topic + "\" is not a valid topic URI");
  std::string board = wamp::BoardIdFromUri(m.topic).value_or("");
  if (s->role == Role::kAdmin) return FinishSubscribe(s, std::move(m), prefix);
  if (s->role == Role::kBoard && board == s->board_id) return FinishSubscribe(s, std::move(m), prefix);
  // The session meta event, exactly: agents drop the watches of callers that left. Operators do
  // not get it (it names every session's user).
  if (s->role == Role::kBoard && !prefix && m.topic == kSessionLeaveTopic)
    return FinishSubscribe(s, std::move(m), prefix);
  if (s->role == Role::kUser && !board.empty()) {
    if (auto it = board_projects_.find(board); it != board_projects_.end()) {
      if (it->second == s->project_id) return FinishSubscribe(s, std::move(m), prefix);
    } else {
      // Boards that are offline are not in the cache: ask the registry.
      directory_.BoardProject(board, [this, board, prefix, m = std::move(m), weak = std::weak_ptr<Session>(s),
                                      alive = std::weak_ptr<bool>(alive_)](Result<std::string> project) mutable {
        auto s = weak.lock();
        if (alive.expired() || !s || s->state != Session::State::kEstablished) return;
        if (project) board_projects_[board] = *project;
        if (project && *project == s->project_id) return FinishSubscribe(s, std::move(m), prefix);
        SendError(s, wamp::MessageType::kSubscribe, m.request, "wamp.error.not_authorized",
                  "user " + s->authid + " may not subscribe to " + m.topic);
      });
      return;
    }
  }
  SendError(s, wamp::MessageType::kSubscribe, m.request, "wamp.error.not_authorized",
            s->authid + " may not subscribe to " + m.topic);
}

void Router::FinishSubscribe(const SessionPtr& s, wamp::Subscribe&& m, bool prefix) {
  auto key = std::make_pair(m.topic, prefix);
  wamp::Id sub_id;
  if (auto it = topics_.find(key); it != topics_.end()) {
    sub_id = it->second;
  } else {
    sub_id = next_subscription_++;
    Subscription sub;
    sub.id = sub_id;
    sub.topic = m.topic;
    sub.prefix = prefix;
    subscriptions_.emplace(sub_id, std::move(sub));
    topics_.emplace(key, sub_id);
  }
  subscriptions_.at(sub_id).subscribers[s->id] = s;
  s->subscriptions.insert(sub_id);
  wamp::Subscribed reply;
  reply.request = m.request;
  reply.subscription = sub_id;
  Send(s, reply);
}

void Router::HandleUnsubscribe(const SessionPtr& s, wamp::Unsubscribe&& m) {
  auto it = subscriptions_.find(m.subscription);
  if (it == subscriptions_.end() || !s->subscriptions.count(m.subscription))
    return SendError(s, wamp::MessageType::kUnsubscribe, m.request, "wamp.error.no_such_subscription",
                     "no subscription " + std::to_string(m.subscription) + " in this session");
  it->second.subscribers.erase(s->id);
  s->subscriptions.erase(m.subscription);
  if (it->second.subscribers.empty()) {
    topics_.erase({it->second.topic, it->second.prefix});
    subscriptions_.erase(it);
  }
  wamp::Unsubscribed reply;
  reply.request = m.request;
  Send(s, reply);
}

}  // namespace ew::router
