// The broker: PUBLISH fan-out to exact, prefix and wildcard subscriptions (exclude_me,
// exclude/eligible lists, acknowledge, publisher disclosure), SUBSCRIBE with per-project
// authorization, UNSUBSCRIBE.
#include <string_view>

#include "cloud-conductor/router/options.hpp"
#include "cloud-conductor/router/session.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "common/wamp/uri.hpp"

namespace ew::router {

namespace {
constexpr char kSessionLeaveTopic[] = "wamp.session.on_leave";
// Every publication is tried against every wildcard pattern (there is no index for them), so a
// session may hold only a few: enough for any dashboard, too few to slow the broker down.
constexpr size_t kMaxWildcardSubscriptionsPerSession = 32;

std::vector<std::string_view> Components(std::string_view uri) {
  std::vector<std::string_view> out;
  for (size_t pos = 0;;) {
    size_t dot = uri.find('.', pos);
    out.push_back(uri.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos));
    if (dot == std::string_view::npos) return out;
    pos = dot + 1;
  }
}

template <typename T>
std::set<T> SetOf(const wamp::Value& list) {
  std::set<T> out;
  for (const auto& e : list) out.insert(e.get<T>());
  return out;
}

// PUBLISH.Options → the broker's options. CheckOptions has checked every type.
PublishOptions ReadPublishOptions(const wamp::Value& options) {
  PublishOptions out;
  out.exclude_me = BoolOption(options, "exclude_me", true);
  out.disclose_me = BoolOption(options, "disclose_me", false);
  auto list = [&](const char* key) -> const wamp::Value* {
    auto it = options.find(key);
    return it == options.end() || it->is_null() ? nullptr : &*it;
  };
  if (auto* v = list("exclude")) out.exclude = SetOf<wamp::Id>(*v);
  if (auto* v = list("exclude_authid")) out.exclude_authid = SetOf<std::string>(*v);
  if (auto* v = list("exclude_authrole")) out.exclude_authrole = SetOf<std::string>(*v);
  if (auto* v = list("eligible")) out.eligible = SetOf<wamp::Id>(*v);
  if (auto* v = list("eligible_authid")) out.eligible_authid = SetOf<std::string>(*v);
  if (auto* v = list("eligible_authrole")) out.eligible_authrole = SetOf<std::string>(*v);
  return out;
}

bool HasReceiverLists(const PublishOptions& o) {
  return !o.exclude.empty() || !o.exclude_authid.empty() || !o.exclude_authrole.empty() || o.eligible ||
         o.eligible_authid || o.eligible_authrole;
}

bool Receives(const Router::Session& subscriber, const Router::Session* publisher, const PublishOptions& o,
              bool has_lists) {
  if (o.exclude_me && publisher && &subscriber == publisher) return false;
  if (!has_lists) return true;
  const std::string role = RoleName(subscriber.role);
  if (o.exclude.count(subscriber.id) || o.exclude_authid.count(subscriber.authid) || o.exclude_authrole.count(role))
    return false;
  if (o.eligible && !o.eligible->count(subscriber.id)) return false;
  if (o.eligible_authid && !o.eligible_authid->count(subscriber.authid)) return false;
  if (o.eligible_authrole && !o.eligible_authrole->count(role)) return false;
  return true;
}

// Whether a subscriber that asked for disclose_publisher may learn who published: admins may,
// and anyone may learn of a board of its own project (its id is in the topic anyway) or of
// itself. A publisher that asked for disclose_me has consented to every subscriber.
bool MayLearnPublisher(const Router::Session& subscriber, const Router::Session& publisher) {
  if (subscriber.role == Role::kAdmin || &subscriber == &publisher) return true;
  return publisher.role == Role::kBoard && !publisher.project_id.empty() &&
         publisher.project_id == subscriber.project_id;
}

}  // namespace

void Router::HandlePublish(const SessionPtr& s, wamp::Publish&& m) {
  if (auto typed = CheckOptions(m.options, "PUBLISH",
                                {{"acknowledge", OptionType::kBool},
                                 {"exclude_me", OptionType::kBool},
                                 {"disclose_me", OptionType::kBool},
                                 {"exclude", OptionType::kIdList},
                                 {"exclude_authid", OptionType::kStringList},
                                 {"exclude_authrole", OptionType::kStringList},
                                 {"eligible", OptionType::kIdList},
                                 {"eligible_authid", OptionType::kStringList},
                                 {"eligible_authrole", OptionType::kStringList}});
      !typed)
    return ProtocolViolation(s, typed.error().message);
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
  wamp::Id publication = RoutePublication(*s, m.topic, m.payload, ReadPublishOptions(m.options));
  if (acknowledge) {
    wamp::Published reply;
    reply.request = m.request;
    reply.publication = publication;
    Send(s, reply);
  }
}

wamp::Id Router::RoutePublication(const Session& s, const std::string& topic, const wamp::Payload& payload,
                                  const PublishOptions& options) {
  if (s.role == Role::kBoard && !publication_listeners_.empty()) {
    // MayPublish let a board through only under its own prefix.
    const std::string prefix = "ew.board." + s.board_id + ".";
    if (topic.compare(0, prefix.size(), prefix) == 0) {
      const std::string suffix = topic.substr(prefix.size());
      for (const auto& listener : publication_listeners_) listener(s.board_id, suffix, payload);
    }
  }
  if (topic.compare(0, 8, "ew.flow.") == 0) {
    for (const auto& listener : flow_publication_listeners_) listener(topic, payload);
    BufferForAbsentReceivers(topic, payload);
  }
  return Publish(&s, topic, payload, options);
}

wamp::Id Router::Publish(const Session* publisher, const std::string& topic, const wamp::Payload& payload,
                         const PublishOptions& options) {
  publications_total_.Inc();
  wamp::Id publication = ids::NewWampId();
  const bool has_lists = HasReceiverLists(options);
  auto deliver = [&](const Subscription& sub) {
    wamp::Event event;
    event.subscription = sub.id;
    event.publication = publication;
    event.payload = payload;
    if (sub.match != Match::kExact) event.details["topic"] = topic;
    // Encode once per (serializer, disclosure), not once per subscriber.
    std::string encoded[2][2];
    for (const auto& [id, subscriber_entry] : sub.subscribers) {
      auto subscriber = subscriber_entry.session.lock();
      if (!subscriber || subscriber->state != Session::State::kEstablished) continue;
      if (!Receives(*subscriber, publisher, options, has_lists)) continue;
      const bool disclose = publisher && (options.disclose_me || (subscriber_entry.disclose_publisher &&
                                                                  MayLearnPublisher(*subscriber, *publisher)));
      auto ser = subscriber->transport->serializer();
      auto& frame = encoded[ser == wamp::Serializer::kJson ? 0 : 1][disclose ? 1 : 0];
      if (frame.empty()) {
        if (disclose) {
          event.details["publisher"] = publisher->id;
          event.details["publisher_authid"] = publisher->authid;
          event.details["publisher_authrole"] = RoleName(publisher->role);
        } else {
          event.details.erase("publisher");
          event.details.erase("publisher_authid");
          event.details.erase("publisher_authrole");
        }
        frame = wamp::Encode(ser, event);
      }
      subscriber->transport->Send(frame);
    }
  };
  if (auto it = topics_.find({topic, Match::kExact}); it != topics_.end()) deliver(subscriptions_.at(it->second));
  // Prefix subscriptions: every whole-component prefix of the topic, the topic itself included.
  for (size_t pos = 0;;) {
    size_t dot = topic.find('.', pos);
    std::string prefix = topic.substr(0, dot);
    if (auto it = topics_.find({prefix, Match::kPrefix}); it != topics_.end()) deliver(subscriptions_.at(it->second));
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  // Wildcard subscriptions: same number of components, each empty one matching anything.
  if (!wildcard_subscriptions_.empty()) {
    const auto components = Components(topic);
    for (wamp::Id id : wildcard_subscriptions_) {
      const Subscription& sub = subscriptions_.at(id);
      if (sub.components.size() != components.size()) continue;
      bool matches = true;
      for (size_t i = 0; i < components.size() && matches; ++i)
        matches = sub.components[i].empty() || sub.components[i] == components[i];
      if (matches) deliver(sub);
    }
  }
  return publication;
}

void Router::BufferForAbsentReceivers(const std::string& topic, const wamp::Payload& payload) {
  if (!wire_buffer_.Watches(topic)) return;
  // Boards subscribed to the exact topic now (what a board's flow runtime subscribes to).
  std::set<std::string> present;
  if (auto it = topics_.find({topic, Match::kExact}); it != topics_.end()) {
    for (const auto& [id, subscriber] : subscriptions_.at(it->second).subscribers) {
      auto session = subscriber.session.lock();
      if (session && session->role == Role::kBoard && session->state == Session::State::kEstablished)
        present.insert(session->board_id);
    }
  }
  wire_buffer_.OnPublish(topic, payload, [&](const std::string& board) { return present.count(board) > 0; });
}

void Router::ReplayWire(const SessionPtr& s, const std::string& topic, wamp::Id subscription) {
  auto held = wire_buffer_.Take(s->board_id, topic);
  if (held.empty()) return;
  RouterLog()->info("board={} session={} {} wire message(s) kept while it was away delivered on {}", s->board_id, s->id,
              held.size(), topic);
  for (auto& payload : held) {
    wamp::Event event;
    event.subscription = subscription;
    event.publication = ids::NewWampId();
    event.payload = std::move(payload);
    Send(s, event);
  }
}

void Router::HandleSubscribe(const SessionPtr& s, wamp::Subscribe&& m) {
  if (auto typed = CheckOptions(m.options, "SUBSCRIBE",
                                {{"match", OptionType::kString}, {"disclose_publisher", OptionType::kBool}});
      !typed)
    return ProtocolViolation(s, typed.error().message);
  std::string match_name = "exact";
  if (auto it = m.options.find("match"); it != m.options.end() && it->is_string()) match_name = it->get<std::string>();
  Match match;
  if (match_name == "exact") {
    match = Match::kExact;
  } else if (match_name == "prefix") {
    match = Match::kPrefix;
  } else if (match_name == "wildcard") {
    match = Match::kWildcard;
  } else {
    return SendError(s, wamp::MessageType::kSubscribe, m.request, "wamp.error.invalid_argument",
                     "match must be exact, prefix or wildcard");
  }
  const bool disclose_publisher = BoolOption(m.options, "disclose_publisher", false);
  if (!wamp::IsValidUri(m.topic, /*allow_empty_components=*/match == Match::kWildcard))
    return SendError(s, wamp::MessageType::kSubscribe, m.request, "wamp.error.invalid_uri",
                     "\"" + m.topic + "\" is not a valid topic URI");
  // A wildcard pattern with a literal board id ("ew.board.<id>..") stays inside that board's
  // topics; one with an empty board component names no board and is for admins only.
  std::string board = wamp::BoardIdFromUri(m.topic).value_or("");
  if (s->role == Role::kAdmin) return FinishSubscribe(s, std::move(m), match, disclose_publisher);
  if (s->role == Role::kBoard && board == s->board_id)
    return FinishSubscribe(s, std::move(m), match, disclose_publisher);
  // The session meta event, exactly: agents drop the watches of callers that left (and hear only
  // of their own callers, by id: PublishSessionLeft). Operators do not get it.
  if (s->role == Role::kBoard && match == Match::kExact && m.topic == kSessionLeaveTopic)
    return FinishSubscribe(s, std::move(m), match, disclose_publisher);
  if (s->role == Role::kOperator && !board.empty()) {
    if (auto it = board_projects_.find(board); it != board_projects_.end()) {
      if (it->second == s->project_id) return FinishSubscribe(s, std::move(m), match, disclose_publisher);
    } else {
      // Boards that are offline are not in the cache: ask the registry.
      directory_.BoardProject(board, [this, board, match, disclose_publisher, m = std::move(m),
                                      weak = std::weak_ptr<Session>(s),
                                      alive = std::weak_ptr<bool>(alive_)](Result<std::string> project) mutable {
        auto s = weak.lock();
        if (alive.expired() || !s || s->state != Session::State::kEstablished) return;
        if (project) board_projects_[board] = *project;
        if (project && *project == s->project_id) return FinishSubscribe(s, std::move(m), match, disclose_publisher);
        SendError(s, wamp::MessageType::kSubscribe, m.request, "wamp.error.not_authorized",
                  "user " + s->authid + " may not subscribe to " + m.topic);
      });
      return;
    }
  }
  if (MayUseFlowTopic(*s, m.topic)) return FinishSubscribe(s, std::move(m), match, disclose_publisher);
  SendError(s, wamp::MessageType::kSubscribe, m.request, "wamp.error.not_authorized",
            s->authid + " may not subscribe to " + m.topic);
}

bool Router::HoldsSubscription(const Session& s, const std::string& topic, Match match) const {
  auto it = topics_.find({topic, match});
  return it != topics_.end() && s.subscriptions.count(it->second);
}

void Router::FinishSubscribe(const SessionPtr& s, wamp::Subscribe&& m, Match match, bool disclose_publisher) {
  // The cap is checked here, where every path ends (an authorization answered later by the
  // registry included), so pipelined SUBSCRIBEs cannot get past it.
  if (match == Match::kWildcard && s->wildcard_subscriptions >= kMaxWildcardSubscriptionsPerSession &&
      !HoldsSubscription(*s, m.topic, match))
    return SendError(s, wamp::MessageType::kSubscribe, m.request, std::string(WampErrorUri(ErrorCode::kResourceExhausted)),
                     "at most " + std::to_string(kMaxWildcardSubscriptionsPerSession) +
                         " wildcard subscriptions per session");
  auto key = std::make_pair(m.topic, match);
  wamp::Id sub_id;
  if (auto it = topics_.find(key); it != topics_.end()) {
    sub_id = it->second;
  } else {
    sub_id = next_subscription_++;
    Subscription sub;
    sub.id = sub_id;
    sub.topic = m.topic;
    sub.match = match;
    if (match == Match::kWildcard) {
      for (auto component : Components(m.topic)) sub.components.emplace_back(component);
      wildcard_subscriptions_.insert(sub_id);
    }
    subscriptions_.emplace(sub_id, std::move(sub));
    topics_.emplace(key, sub_id);
  }
  auto& subscribers = subscriptions_.at(sub_id).subscribers;
  if (!subscribers.count(s->id) && match == Match::kWildcard) ++s->wildcard_subscriptions;
  subscribers[s->id] = Subscriber{s, disclose_publisher};
  s->subscriptions.insert(sub_id);
  wamp::Subscribed reply;
  reply.request = m.request;
  reply.subscription = sub_id;
  Send(s, reply);
  // Right after SUBSCRIBED, before any live event: what its senders published while it was away.
  if (s->role == Role::kBoard && match == Match::kExact && wire_buffer_.Watches(m.topic)) ReplayWire(s, m.topic, sub_id);
}

void Router::DropSubscriber(wamp::Id subscription, wamp::Id session) {
  auto it = subscriptions_.find(subscription);
  if (it == subscriptions_.end()) return;
  auto subscriber = it->second.subscribers.find(session);
  if (subscriber == it->second.subscribers.end()) return;
  if (it->second.match == Match::kWildcard) {
    if (auto s = subscriber->second.session.lock(); s && s->wildcard_subscriptions > 0) --s->wildcard_subscriptions;
  }
  it->second.subscribers.erase(subscriber);
  if (!it->second.subscribers.empty()) return;
  topics_.erase({it->second.topic, it->second.match});
  wildcard_subscriptions_.erase(subscription);
  subscriptions_.erase(it);
}

void Router::HandleUnsubscribe(const SessionPtr& s, wamp::Unsubscribe&& m) {
  if (!subscriptions_.count(m.subscription) || !s->subscriptions.count(m.subscription))
    return SendError(s, wamp::MessageType::kUnsubscribe, m.request, "wamp.error.no_such_subscription",
                     "no subscription " + std::to_string(m.subscription) + " in this session");
  DropSubscriber(m.subscription, s->id);
  s->subscriptions.erase(m.subscription);
  wamp::Unsubscribed reply;
  reply.request = m.request;
  Send(s, reply);
}

}  // namespace ew::router
