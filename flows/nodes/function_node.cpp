// function: Node-RED's core `function` node in Duktape (flows/js), one JavaScript heap per node.
// What the code sees, as in Node-RED (nodered.org/docs/user-guide/writing-functions):
//   msg; return msg | [msg1, [msgA, msgB], null] (one entry per output, `outputs` of them);
//   node.send/warn/error/log/debug/trace/status/done/on('close'), node.id/name/outputCount;
//   context/flow/global .get/.set/.keys (in memory: per node, per tab of this partition, per
//   runtime), env.get, console.log/warn/error, setTimeout/setInterval and their clear*;
//   the node's initialize ("On Start") code before the first message, finalize ("On Stop") at close.
// Not there: require / external modules (`libs` is refused at deploy), async/await and
// other syntax Duktape lacks (refused at deploy by CheckFunctionNode, naming the node).
// Errors thrown by the code go to catch nodes with the message; a call over its budget (time,
// instructions) or the heap's memory cap is such an error too, and the node keeps running.
// Context values are copied in and out as JSON: an object taken with get() and changed later is
// not changed in the store until it is set() again (Node-RED's memory store would share it).
#include <deque>
#include <map>

#include "flows/js/function_script.hpp"
#include "flows/js/js_heap.hpp"
#include "flows/js/js_value.hpp"
#include "flows/nodes/node_factories.hpp"
#include "flows/runtime/host.hpp"

namespace ew::flows::nodes {

namespace {

using Json = nlohmann::json;
using js::JsHeap;

// Builds the globals a function node's code sees from the natives in N. Runs once per heap.
// ECMAScript 5 only: it is compiled by the same engine.
constexpr const char* kPrelude = R"JS(function (G, N, info) {
  function text(a) {
    if (typeof a === 'string') return a;
    if (a instanceof Error || a === undefined || a === null || typeof a !== 'object') return String(a);
    try { return JSON.stringify(a); } catch (e) { return String(a); }
  }
  var closers = [];
  var timers = {};
  var node = {
    id: info.id, name: info.name, path: info.path, outputCount: info.outputs,
    send: function (msgs, cloneMsg) { N.send(msgs); },
    log: function (m) { N.log('info', text(m)); },
    warn: function (m) { N.log('warn', text(m)); },
    debug: function (m) { N.log('debug', text(m)); },
    trace: function (m) { N.log('trace', text(m)); },
    error: function (m, msg) { N.error(text(m), msg); },
    status: function (s) { N.status(typeof s === 'string' ? { text: s } : (s || {})); },
    done: function (err) { N.done(err === undefined || err === null ? undefined : text(err)); },
    on: function (event, fn) {
      if (event === 'input') throw new Error("Cannot add listener to 'input' event within Function");
      if (event === 'close' && typeof fn === 'function') closers.push(fn);
    }
  };
  function store(scope) {
    function callback(a, b) { return typeof a === 'function' ? a : (typeof b === 'function' ? b : null); }
    return {
      get: function (key, a, b) {
        var cb = callback(a, b);
        var v = N.ctx(scope, 'get', key);
        if (!cb) return v;
        cb.apply(null, [null].concat(Array.isArray(key) ? v : [v]));
      },
      set: function (key, value, a, b) {
        var cb = callback(a, b);
        if (Array.isArray(key)) {
          for (var i = 0; i < key.length; i++) N.ctx(scope, 'set', key[i], Array.isArray(value) ? value[i] : undefined);
        } else {
          N.ctx(scope, 'set', key, value);
        }
        if (cb) cb(null);
      },
      keys: function (a, b) {
        var cb = callback(a, b);
        var k = N.ctx(scope, 'keys');
        if (!cb) return k;
        cb(null, k);
      }
    };
  }
  var context = store('node');
  context.flow = store('flow');
  context.global = store('global');
  G.node = node;
  G.context = context;
  G.flow = context.flow;
  G.global = context.global;
  G.env = { get: function (name) { return N.env(String(name)); } };
  G.console = { log: node.log, info: node.log, warn: node.warn, debug: node.debug, trace: node.trace,
                error: function (m) { N.log('error', text(m)); } };
  G.RED = { util: { cloneMessage: function (m) { return m === undefined ? m : JSON.parse(JSON.stringify(m)); },
                    generateId: function () { return N.id(); } } };
  function timer(repeat) {
    return function (fn, ms) {
      if (typeof fn !== 'function') throw new TypeError('callback must be a function');
      var args = Array.prototype.slice.call(arguments, 2);
      var id = N.timer(Number(ms) || 0, repeat);
      timers[id] = function () {
        if (!repeat) delete timers[id];
        fn.apply(null, args);
      };
      return id;
    };
  }
  function clear(id) {
    if (timers[id]) { delete timers[id]; N.clear(id); }
  }
  G.setTimeout = timer(false);
  G.setInterval = timer(true);
  G.clearTimeout = clear;
  G.clearInterval = clear;
  return {
    fire: function (id) { var f = timers[id]; if (f) f(); },
    close: function () {
      for (var i = 0; i < closers.length; i++) closers[i]();
      for (var id in timers) N.clear(Number(id));
      timers = {};
    }
  };
})JS";

// A native's way out with an error: the method pushes an Error object and returns kThrow; the
// trampoline throws it once the method's C++ locals are gone (the engine unwinds with longjmp).
constexpr duk_ret_t kThrow = -1000;

class FunctionNode;
using Method = duk_ret_t (FunctionNode::*)(duk_context*);

template <Method M>
duk_ret_t Native(duk_context* ctx);

class FunctionNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;

  Result<void> Configure();
  Result<void> Start() override;
  void OnInput(Msg msg) override;
  void Close() override;
  bool completes_later() const override { return true; }

  // Natives (the N object of kPrelude).
  duk_ret_t JsSend(duk_context* ctx);
  duk_ret_t JsLog(duk_context* ctx);
  duk_ret_t JsError(duk_context* ctx);
  duk_ret_t JsStatus(duk_context* ctx);
  duk_ret_t JsDone(duk_context* ctx);
  duk_ret_t JsContext(duk_context* ctx);
  duk_ret_t JsEnv(duk_context* ctx);
  duk_ret_t JsId(duk_context* ctx);
  duk_ret_t JsTimer(duk_context* ctx);
  duk_ret_t JsClear(duk_context* ctx);

 private:
  // What the code is running for: the message's id (sent messages get it) and, for node.done()
  // and node.error(text) inside it, the message itself.
  struct Current {
    Json msgid;  // null outside a message (timers, initialize): sent messages get a new id
    const Msg* msg = nullptr;
  };

  Result<void> Compile(const std::string& source, const char* what, void** slot);
  Result<void> RunPrelude();
  // Calls the stashed function `fn` with msg (or nothing) under the heap's budget; its result
  // as JSON.
  Result<Json> Run(void* fn, const Msg* msg);
  Result<Json> Value(duk_idx_t idx);
  void PushValue(const Json& value);
  // Node-RED's sendResults: null → nothing; an object → output 0; an array → one entry per output
  // (null, a message, or an array of messages). Every message gets `msgid`; anything else than an
  // object is reported ("Function tried to send a message of type ...").
  void SendResults(Json results, const Json& msgid);
  void FireTimer(int id, bool repeat, std::chrono::milliseconds every);
  // hooks.fire(id) / hooks.close() (no argument when id is 0), under the budget.
  Result<void> CallHook(void* fn, int id);
  Json* Store(const std::string& scope);

  js::FunctionScript script_;
  std::unique_ptr<JsHeap> heap_;
  void* func_ = nullptr;
  void* ini_ = nullptr;
  void* fin_ = nullptr;
  void* hooks_ = nullptr;  // {fire, close} returned by the prelude
  void* fire_ = nullptr;
  void* close_ = nullptr;
  Current current_;
  std::deque<Msg> awaiting_done_;  // messages whose node.done() the code has yet to call
  Json node_context_ = Json::object();
  bool status_set_ = false;
  bool started_ = false;
  bool closing_ = false;
  int next_timer_ = 1;
  std::map<int, Timers::Id> timers_;
};

template <Method M>
duk_ret_t Native(duk_context* ctx) {
  duk_ret_t rc;
  try {
    rc = (JsHeap::Owner<FunctionNode>(ctx)->*M)(ctx);
  } catch (const std::exception& e) {
    duk_push_error_object(ctx, DUK_ERR_ERROR, "%s", e.what());
    rc = kThrow;
  }
  if (rc == kThrow) return duk_throw(ctx);
  return rc;
}

duk_ret_t PushSafe(duk_context* ctx, void* udata) {
  js::PushJson(ctx, *static_cast<const Json*>(udata));
  return 1;
}

duk_ret_t PushTextSafe(duk_context* ctx, void* udata) {
  js::PushJsonText(ctx, *static_cast<const Json*>(udata));
  return 1;
}

Result<void> FunctionNode::Configure() {
  EW_TRY(script_, js::FunctionScriptOf(def_));
  js::JsLimits limits;
  const auto& options = rt_.options();
  limits.max_heap_bytes = options.function_heap_bytes;
  limits.max_call_time = options.function_call_time;
  limits.max_call_instructions = options.function_call_instructions;
  // Node-RED's own per-node timeout (seconds, 0 = none) when it is the shorter one.
  if (double seconds = NumProp("timeout").value_or(0); seconds > 0) {
    auto own = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    if (limits.max_call_time.count() == 0 || own < limits.max_call_time) limits.max_call_time = own;
  }
  EW_TRY(heap_, JsHeap::Create(limits, clock()));
  heap_->set_owner(this);
  EW_TRY_VOID(RunPrelude());
  EW_TRY_VOID(Compile(script_.func, "function (On Message)", &func_));
  if (!script_.initialize.empty()) EW_TRY_VOID(Compile(script_.initialize, "setup (On Start)", &ini_));
  if (!script_.finalize.empty()) EW_TRY_VOID(Compile(script_.finalize, "close (On Stop)", &fin_));
  return Ok();
}

Result<void> FunctionNode::Compile(const std::string& source, const char* what, void** slot) {
  auto compiled = heap_->CompileAndKeep(source, what);
  if (!compiled) {
    std::string message = std::string(what) + ": " + compiled.error().message;
    if (compiled.error().message.rfind("SyntaxError", 0) == 0) message += js::kEngineSyntaxHint;
    return InvalidArgument(message);
  }
  *slot = *compiled;
  return Ok();
}

namespace {

// [] -> [global natives info]: the prelude's arguments, built inside a protected call (an
// allocation failure on a small heap must be an error, not the engine's fatal handler).
duk_ret_t PreludeArgsSafe(duk_context* ctx, void* udata) {
  static const duk_function_list_entry natives[] = {
      {"send", Native<&FunctionNode::JsSend>, 1},     {"log", Native<&FunctionNode::JsLog>, 2},
      {"error", Native<&FunctionNode::JsError>, 2},   {"status", Native<&FunctionNode::JsStatus>, 1},
      {"done", Native<&FunctionNode::JsDone>, 1},     {"ctx", Native<&FunctionNode::JsContext>, 4},
      {"env", Native<&FunctionNode::JsEnv>, 1},       {"id", Native<&FunctionNode::JsId>, 0},
      {"timer", Native<&FunctionNode::JsTimer>, 2},   {"clear", Native<&FunctionNode::JsClear>, 1},
      {nullptr, nullptr, 0}};
  duk_push_global_object(ctx);
  duk_push_object(ctx);
  duk_put_function_list(ctx, -1, natives);
  js::PushJson(ctx, *static_cast<const Json*>(udata));
  return 3;
}

// [hooks] -> []: keeps the prelude's hooks in the stash and drops the prelude's own code.
duk_ret_t KeepHooksSafe(duk_context* ctx, void* udata) {
  duk_push_global_stash(ctx);
  duk_dup(ctx, -2);
  duk_put_prop_string(ctx, -2, "hooks");
  duk_del_prop_string(ctx, -1, "prelude");
  return 0;
}

duk_ret_t HookSafe(duk_context* ctx, void* udata) {
  // [hooks] -> [hooks.fire, hooks.close]
  duk_get_prop_string(ctx, -1, "fire");
  duk_get_prop_string(ctx, -2, "close");
  return 2;
}

}  // namespace

Result<void> FunctionNode::RunPrelude() {
  duk_context* ctx = heap_->ctx();
  void* prelude = nullptr;
  EW_TRY_VOID(Compile(kPrelude, "prelude", &prelude));
  const Json info = {{"id", def_.id}, {"name", def_.name}, {"path", rt_.partition().flow + "/" + def_.id},
                     {"outputs", script_.outputs}};
  duk_push_heapptr(ctx, prelude);
  if (duk_safe_call(ctx, PreludeArgsSafe, const_cast<Json*>(&info), 0, 3) != DUK_EXEC_SUCCESS) {
    std::string text = JsHeap::ErrorText(ctx, -1);
    duk_set_top(ctx, 0);
    return Internal("function node setup: " + text);
  }
  if (auto ran = heap_->Call(3); !ran) {
    duk_pop(ctx);
    return Internal("function node setup: " + ran.error().message);
  }
  hooks_ = duk_get_heapptr(ctx, -1);
  duk_dup_top(ctx);  // [hooks hooks]: the copy below keeps it alive until it is in the stash
  if (duk_safe_call(ctx, HookSafe, nullptr, 1, 2) != DUK_EXEC_SUCCESS || !duk_is_function(ctx, -1) ||
      !duk_is_function(ctx, -2)) {
    duk_set_top(ctx, 0);
    return Internal("function node setup: no hooks");
  }
  fire_ = duk_get_heapptr(ctx, -2);
  close_ = duk_get_heapptr(ctx, -1);
  duk_pop_2(ctx);  // [hooks]
  const bool kept = duk_safe_call(ctx, KeepHooksSafe, nullptr, 1, 0) == DUK_EXEC_SUCCESS;
  duk_set_top(ctx, 0);
  if (!kept) return Internal("function node setup: out of memory");
  // The prelude's own code is not needed again (the closures it made keep what they use).
  duk_gc(ctx, 0);
  duk_gc(ctx, 0);  // the second pass frees what the first one only finalized
  return Ok();
}

Result<Json> FunctionNode::Value(duk_idx_t idx) {
  return rt_.options().function_text_conversion ? js::ToJsonText(heap_->ctx(), idx) : js::ToJson(heap_->ctx(), idx);
}

// Pushes `value`, or undefined when the heap has no room for it.
void FunctionNode::PushValue(const Json& value) {
  duk_context* ctx = heap_->ctx();
  auto push = rt_.options().function_text_conversion ? PushTextSafe : PushSafe;
  if (duk_safe_call(ctx, push, const_cast<Json*>(&value), 0, 1) != DUK_EXEC_SUCCESS) {
    duk_pop(ctx);
    duk_push_undefined(ctx);
  }
}

Result<Json> FunctionNode::Run(void* fn, const Msg* msg) {
  duk_context* ctx = heap_->ctx();
  duk_push_heapptr(ctx, fn);
  int nargs = 0;
  if (msg) {
    auto push = rt_.options().function_text_conversion ? PushTextSafe : PushSafe;
    if (duk_safe_call(ctx, push, const_cast<Msg*>(msg), 0, 1) != DUK_EXEC_SUCCESS) {
      std::string text = JsHeap::ErrorText(ctx, -1);
      duk_pop_2(ctx);
      return InvalidArgument(text);
    }
    nargs = 1;
  }
  auto ran = heap_->Call(nargs);
  if (!ran) {
    duk_pop(ctx);
    return tl::unexpected<ew::Error>(ran.error());
  }
  auto result = Value(-1);
  duk_pop(ctx);
  return result;
}

Result<void> FunctionNode::Start() {
  started_ = true;
  if (!ini_) return Ok();
  // Node-RED queues messages until initialize has finished; here it runs before any can arrive.
  current_ = Current{};
  auto ran = Run(ini_, nullptr);
  if (!ran) return InvalidArgument("setup (On Start): " + ran.error().message);
  return Ok();
}

void FunctionNode::OnInput(Msg msg) {
  auto id = msg.find("_msgid");
  current_ = Current{id != msg.end() ? *id : Json(runtime::NewMessageId()), &msg};
  if (script_.calls_done) {
    if (awaiting_done_.size() >= rt_.options().max_queue) awaiting_done_.pop_front();
    awaiting_done_.push_back(msg);
  }
  auto results = Run(func_, &msg);
  const Json msgid = current_.msgid;
  current_ = Current{};
  if (!results) {
    // Node-RED: done(err), i.e. node.error(err, msg) to catch nodes, and the message is complete.
    if (script_.calls_done && !awaiting_done_.empty()) awaiting_done_.pop_back();
    Error(results.error().message, &msg);
    Done(msg);
    return;
  }
  SendResults(std::move(*results), msgid);
  if (!script_.calls_done) Done(msg);
}

// JavaScript falsy: what `if (msgs[m])` skips.
bool Falsy(const Json& v) {
  return v.is_null() || (v.is_boolean() && !v.get<bool>()) || (v.is_number() && v.get<double>() == 0) ||
         (v.is_string() && v.get_ref<const std::string&>().empty());
}

void FunctionNode::SendResults(Json results, const Json& msgid) {
  if (results.is_null()) return;
  if (!results.is_array()) results = Json::array({std::move(results)});
  const size_t outputs = static_cast<size_t>(script_.outputs);
  for (size_t port = 0; port < results.size(); ++port) {
    Json& entry = results[port];
    if (Falsy(entry)) continue;
    if (!entry.is_array()) entry = Json::array({std::move(entry)});
    for (auto& msg : entry) {
      if (msg.is_null()) continue;
      if (!msg.is_object()) {
        const char* type = msg.is_string() ? "string" : msg.is_number() ? "number" : msg.is_boolean() ? "boolean" : "Array";
        Error(std::string("Function tried to send a message of type ") + type);
        continue;
      }
      if (port >= outputs) continue;  // Node-RED: nothing is wired past the node's outputs
      if (!msgid.is_null()) msg["_msgid"] = msgid;
      SendTo(port, std::move(msg));
    }
  }
}

void FunctionNode::Close() {
  if (!started_ || !heap_) return;
  started_ = false;
  current_ = Current{};
  closing_ = true;
  if (fin_) {
    if (auto ran = Run(fin_, nullptr); !ran) Error("close (On Stop): " + ran.error().message);
  }
  if (auto ran = CallHook(close_, 0); !ran) Error(ran.error().message);
  for (auto& [id, timer] : timers_) CancelTimer(timer);
  timers_.clear();
  if (status_set_) SetStatus("", "", "");
}

Result<void> FunctionNode::CallHook(void* fn, int id) {
  // Only pushes of values the heap already holds: nothing here can fail for lack of memory.
  duk_context* ctx = heap_->ctx();
  duk_push_heapptr(ctx, fn);
  duk_push_heapptr(ctx, hooks_);  // this
  if (id != 0) duk_push_int(ctx, id);
  auto ran = heap_->CallMethod(id != 0 ? 1 : 0);
  duk_pop(ctx);
  return ran;
}

void FunctionNode::FireTimer(int id, bool repeat, std::chrono::milliseconds every) {
  if (repeat) {
    timers_[id] = After(every, [this, id, every] { FireTimer(id, true, every); });
  } else {
    timers_.erase(id);
  }
  current_ = Current{};
  // Node-RED: an error in a timer callback is node.error(err, {}).
  if (auto ran = CallHook(fire_, id); !ran) {
    Msg empty = Json::object();
    Error(ran.error().message, &empty);
  }
}

duk_ret_t FunctionNode::JsSend(duk_context* ctx) {
  if (closing_) {
    Error("Cannot send from close function");
    return 0;
  }
  auto msgs = Value(0);
  if (!msgs) {
    duk_push_error_object(ctx, DUK_ERR_TYPE_ERROR, "node.send: %s", msgs.error().message.c_str());
    return kThrow;
  }
  SendResults(std::move(*msgs), current_.msgid);
  return 0;
}

duk_ret_t FunctionNode::JsLog(duk_context* ctx) {
  const std::string level = duk_safe_to_string(ctx, 0);
  const std::string text = duk_safe_to_string(ctx, 1);
  if (level == "warn") {
    Warn(text);
  } else {
    host().Log(level, def_.id, text);
  }
  return 0;
}

// node.error(text[, msg]): with a message (or inside a message's call) to catch nodes, as Node-RED.
duk_ret_t FunctionNode::JsError(duk_context* ctx) {
  const std::string text = duk_safe_to_string(ctx, 0);
  if (duk_is_object(ctx, 1)) {
    auto msg = Value(1);
    if (msg && msg->is_object()) {
      Error(text, &*msg);
      return 0;
    }
  }
  Error(text);
  return 0;
}

duk_ret_t FunctionNode::JsStatus(duk_context* ctx) {
  auto status = Value(0);
  if (!status || !status->is_object()) {
    duk_push_error_object(ctx, DUK_ERR_TYPE_ERROR, "node.status: expects {fill, shape, text}");
    return kThrow;
  }
  auto field = [&](const char* name) {
    auto it = status->find(name);
    return it == status->end() || it->is_null() ? std::string() : runtime::ToJsString(*it);
  };
  status_set_ = true;
  SetStatus(field("fill"), field("shape"), field("text"));
  return 0;
}

// node.done([err]): completes the oldest message still waiting for it (the current one while
// the code runs for a message).
duk_ret_t FunctionNode::JsDone(duk_context* ctx) {
  Msg msg = Json::object();
  if (!awaiting_done_.empty()) {
    msg = std::move(awaiting_done_.front());
    awaiting_done_.pop_front();
  } else if (current_.msg) {
    msg = *current_.msg;
  }
  if (!duk_is_undefined(ctx, 0)) Error(duk_safe_to_string(ctx, 0), &msg);
  Done(msg);
  return 0;
}

Json* FunctionNode::Store(const std::string& scope) {
  Json* store = scope == "flow" ? &rt_.FlowContext(def_.tab) : scope == "global" ? &rt_.GlobalContext() : &node_context_;
  if (!store->is_object()) *store = Json::object();
  return store;
}

// ctx(scope, "get"|"set"|"keys", key, value): the in-memory context stores. Keys are message
// property paths ("a.b[0]"), as in Node-RED.
duk_ret_t FunctionNode::JsContext(duk_context* ctx) {
  Json* store = Store(duk_safe_to_string(ctx, 0));
  const std::string op = duk_safe_to_string(ctx, 1);
  if (op == "keys") {
    Json keys = Json::array();
    for (const auto& [key, value] : store->items()) keys.push_back(key);
    PushValue(keys);
    return 1;
  }
  auto get_one = [&](duk_idx_t idx) {
    auto path = runtime::PropertyPath::Parse(duk_safe_to_string(ctx, idx));
    const Json* value = path ? path->Get(*store) : nullptr;
    if (value) {
      PushValue(*value);
    } else {
      duk_push_undefined(ctx);
    }
  };
  if (op == "get") {
    if (duk_is_array(ctx, 2)) {
      duk_push_array(ctx);
      const duk_size_t n = duk_get_length(ctx, 2);
      for (duk_size_t i = 0; i < n; ++i) {
        duk_get_prop_index(ctx, 2, static_cast<duk_uarridx_t>(i));
        get_one(-1);
        duk_remove(ctx, -2);
        duk_put_prop_index(ctx, -2, static_cast<duk_uarridx_t>(i));
      }
      return 1;
    }
    get_one(2);
    return 1;
  }
  auto path = runtime::PropertyPath::Parse(duk_safe_to_string(ctx, 2));
  if (!path || path->empty()) {
    duk_push_error_object(ctx, DUK_ERR_TYPE_ERROR, "context: invalid key");
    return kThrow;
  }
  if (duk_is_undefined(ctx, 3)) {
    path->Delete(*store);
    return 0;
  }
  auto value = Value(3);
  if (!value) {
    duk_push_error_object(ctx, DUK_ERR_TYPE_ERROR, "context.set: %s", value.error().message.c_str());
    return kThrow;
  }
  path->Set(*store, std::move(*value));
  return 0;
}

duk_ret_t FunctionNode::JsEnv(duk_context* ctx) {
  auto value = rt_.Env(def_, duk_safe_to_string(ctx, 0));
  if (value) {
    PushValue(*value);
  } else {
    duk_push_undefined(ctx);
  }
  return 1;
}

duk_ret_t FunctionNode::JsId(duk_context* ctx) {
  const std::string id = runtime::NewMessageId();
  duk_push_lstring(ctx, id.data(), id.size());
  return 1;
}

duk_ret_t FunctionNode::JsTimer(duk_context* ctx) {
  double ms = duk_get_number_default(ctx, 0, 0);
  if (!(ms >= 0)) ms = 0;
  if (ms > 1e10) ms = 1e10;
  const bool repeat = duk_to_boolean(ctx, 1);
  if (timers_.size() >= 1000) {
    duk_push_error_object(ctx, DUK_ERR_RANGE_ERROR, "too many timers (1000) in one function node");
    return kThrow;
  }
  const int id = next_timer_++;
  // Node-RED (Node.js) runs a 0 ms interval every 1 ms.
  auto every = std::chrono::milliseconds(static_cast<int64_t>(ms));
  if (repeat && every.count() < 1) every = std::chrono::milliseconds(1);
  timers_[id] = After(every, [this, id, repeat, every] { FireTimer(id, repeat, every); });
  duk_push_int(ctx, id);
  return 1;
}

duk_ret_t FunctionNode::JsClear(duk_context* ctx) {
  const int id = duk_get_int_default(ctx, 0, 0);
  auto it = timers_.find(id);
  if (it != timers_.end()) {
    CancelTimer(it->second);
    timers_.erase(it);
  }
  return 0;
}

}  // namespace

NodePtr MakeFunctionNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<FunctionNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
