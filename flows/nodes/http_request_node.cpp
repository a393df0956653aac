// http request (Node-RED core), plain HTTP with Boost.Beast on the runtime's io_context: method
// from the node or msg.method ("use"), URL from the node (mustache {{...}} over the message
// allowed) or msg.url, msg.headers sent, msg.payload as the body (objects as JSON); the reply
// sets msg.payload (ret "txt" string, "bin" array of bytes, "obj" parsed JSON), msg.statusCode,
// msg.headers and msg.responseUrl. Timeout: msg.requestTimeout (ms) or 120 s, as Node-RED's
// httpRequestTimeout. Bodies over 8 MiB fail. https and proxies are refused (not on boards yet).
#include <algorithm>
#include <cctype>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <kainjow/mustache.hpp>

#include "common/json/guarded_json.hpp"
#include "common/url/url.hpp"
#include "flows/nodes/node_factories.hpp"

namespace ew::flows::nodes {

namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

constexpr size_t kMaxBody = 8u << 20;

// The one URL parser (common/url); http only here: https needs TLS, not on boards yet.
Result<url::Url> ParseHttpUrl(const std::string& text) {
  EW_TRY(url::Url u, url::ParseUrl(text));
  if (u.scheme == "https") return InvalidArgument("https is not supported on boards yet");
  if (u.scheme != "http") return InvalidArgument("unsupported URL scheme \"" + u.scheme + "\"");
  return u;
}

// Host header: the port only when it is not http's 80, as Node-RED sends it.
std::string HostHeader(const url::Url& u) {
  std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  return u.port == 80 ? host : host + ":" + std::to_string(u.port);
}

// An HTTP token (RFC 9110 5.6.2): a method or a header name. Beast writes both as given, so a CR
// or LF from a message would start a header or a request of the message's choosing.
bool IsToken(std::string_view s) {
  static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || kExtra.find(static_cast<char>(c)) != std::string_view::npos;
  });
}

// A header value or a request target: no control characters (CR, LF, NUL) and, for the target,
// no space.
bool IsFieldText(std::string_view s, bool space_allowed) {
  return std::none_of(s.begin(), s.end(), [&](unsigned char c) { return c < 0x20 || c == 0x7f || (c == ' ' && !space_allowed); });
}

// One request: resolve, connect, write, read, with a deadline on the stream. Runs on the strand.
class HttpCall : public std::enable_shared_from_this<HttpCall> {
 public:
  using Done = std::function<void(Result<http::response<http::string_body>>)>;

  HttpCall(boost::asio::any_io_executor executor, url::Url url, http::request<http::string_body> request,
           std::chrono::milliseconds timeout, Done done)
      : resolver_(executor), stream_(executor), url_(std::move(url)), request_(std::move(request)), timeout_(timeout),
        done_(std::move(done)) {
    parser_.body_limit(kMaxBody);
  }

  void Run() {
    stream_.expires_after(timeout_);
    resolver_.async_resolve(url_.host, std::to_string(url_.port), [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
      if (ec) return self->Fail(ec);
      self->stream_.async_connect(results, [self](beast::error_code ec, const tcp::endpoint&) {
        if (ec) return self->Fail(ec);
        http::async_write(self->stream_, self->request_, [self](beast::error_code ec, size_t) {
          if (ec) return self->Fail(ec);
          http::async_read(self->stream_, self->buffer_, self->parser_, [self](beast::error_code ec, size_t) {
            if (ec) return self->Fail(ec);
            beast::error_code ignored;
            self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
            self->done_(self->parser_.release());
          });
        });
      });
    });
  }

 private:
  void Fail(beast::error_code ec) {
    done_(ec == beast::error::timeout ? DeadlineExceeded("request timed out")
                                      : Unavailable(ec.message()));
  }

  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  url::Url url_;
  http::request<http::string_body> request_;
  std::chrono::milliseconds timeout_;
  Done done_;
};

kainjow::mustache::data ToMustache(const nlohmann::json& v) {
  using Data = kainjow::mustache::data;
  if (v.is_object()) {
    Data d(Data::type::object);
    for (auto it = v.begin(); it != v.end(); ++it) d.set(it.key(), ToMustache(it.value()));
    return d;
  }
  return Data(runtime::ToJsString(v));
}

class HttpRequestNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;

  Result<void> Configure() {
    method_ = StrProp("method", "GET");
    ret_ = StrProp("ret", "txt");
    if (ret_ != "txt" && ret_ != "bin" && ret_ != "obj") return InvalidArgument("ret \"" + ret_ + "\" is not supported");
    if (BoolProp("tls") || !StrProp("tls").empty()) return InvalidArgument("TLS configuration is not supported on boards yet");
    if (BoolProp("useProxy")) return InvalidArgument("proxies are not supported on boards");
    std::string auth = StrProp("authType", "");
    if (!auth.empty()) return InvalidArgument("authentication (" + auth + ") is not supported on boards (no credentials in a flow export)");
    url_ = StrProp("url");
    if (url_.find("{{") != std::string::npos) {
      url_template_.emplace(url_);
      if (!url_template_->is_valid()) return InvalidArgument("url: " + url_template_->error_message());
    } else if (!url_.empty()) {
      // A fixed URL the runtime may not dial fails the deploy, not each message.
      EW_TRY(url::Url fixed, ParseHttpUrl(url_.find("://") == std::string::npos ? "http://" + url_ : url_));
      EW_TRY_VOID(rt_.CheckOutbound(fixed.host, fixed.port));
    }
    return Ok();
  }

  bool completes_later() const override { return true; }

  void OnInput(Msg msg) override {
    std::string url = url_;
    if (url_template_) url = url_template_->render(ToMustache(msg));
    if (url.empty()) url = msg.value("url", "");
    if (url.find("://") == std::string::npos && !url.empty()) url = "http://" + url;
    auto parsed = ParseHttpUrl(url);
    if (parsed) {
      // Every request: a URL from the message or a template is known only now.
      if (auto allowed = rt_.CheckOutbound(parsed->host, parsed->port); !allowed)
        parsed = tl::unexpected<ew::Error>(allowed.error());
    }
    if (!parsed) {
      Error(parsed.error().message, &msg);
      return;
    }
    std::string method = method_ == "use" ? msg.value("method", "GET") : method_;
    for (auto& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::string refused;
    if (!IsToken(method)) refused = "method is not an HTTP token";
    if (!IsFieldText(parsed->target, false)) refused = "the URL's path has a space or a control character";
    if (auto headers = msg.find("headers"); headers != msg.end() && headers->is_object()) {
      for (auto it = headers->begin(); it != headers->end(); ++it) {
        if (!IsToken(it.key()) || !IsFieldText(runtime::ToJsString(it.value()), true))
          refused = "header \"" + it.key().substr(0, 64) + "\" is not a token with a value free of control characters";
      }
    }
    if (!refused.empty()) {
      Error("http request: " + refused + ": not sent", &msg);
      return;
    }
    http::request<http::string_body> request;
    request.method_string(method);
    request.target(parsed->target);
    request.version(11);
    request.set(http::field::host, HostHeader(*parsed));
    request.set(http::field::user_agent, "edgewire-flows");
    if (auto headers = msg.find("headers"); headers != msg.end() && headers->is_object())
      for (auto it = headers->begin(); it != headers->end(); ++it) request.set(it.key(), runtime::ToJsString(it.value()));
    if (method != "GET" && method != "HEAD" && msg.contains("payload") && !msg["payload"].is_null()) {
      const auto& payload = msg["payload"];
      if (payload.is_string()) {
        request.body() = payload.get<std::string>();
      } else {
        request.body() = payload.dump();
        if (request[http::field::content_type].empty()) request.set(http::field::content_type, "application/json");
      }
      request.prepare_payload();
    }
    auto timeout = std::chrono::milliseconds(120'000);
    if (auto t = msg.contains("requestTimeout") ? runtime::ToNumber(msg["requestTimeout"]) : std::nullopt; t && *t > 0)
      timeout = std::chrono::milliseconds(static_cast<int64_t>(*t));
    SetStatus("blue", "dot", "requesting");
    auto alive = alive_;
    auto shared = std::make_shared<Msg>(std::move(msg));
    auto call = std::make_shared<HttpCall>(rt_.strand(), *parsed, std::move(request), timeout,
                                           [this, alive, shared, url](Result<http::response<http::string_body>> reply) {
                                             if (*alive) Finish(std::move(*shared), url, std::move(reply));
                                           });
    call->Run();
  }

  void Close() override { *alive_ = false; }

 private:
  void Finish(Msg msg, const std::string& url, Result<http::response<http::string_body>> reply) {
    if (!reply) {
      SetStatus("red", "ring", reply.error().message);
      msg["payload"] = reply.error().message;
      Error(reply.error().message, &msg);
      Done(msg);
      return;
    }
    SetStatus("", "", "");
    msg["statusCode"] = reply->result_int();
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& field : *reply) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      headers[name] = std::string(field.value());
    }
    msg["headers"] = std::move(headers);
    msg["responseUrl"] = url;
    std::string& body = reply->body();
    if (ret_ == "bin") {
      nlohmann::json bytes = nlohmann::json::array();
      for (unsigned char c : body) bytes.push_back(c);
      msg["payload"] = std::move(bytes);
    } else if (ret_ == "obj") {
      auto parsed = json::Parse(body, json::ParseLimits{kMaxBody, 64, false, "response body"});
      if (parsed) {
        msg["payload"] = std::move(*parsed);
      } else {
        msg["payload"] = std::move(body);
        Warn("http request: JSON parse error");
      }
    } else {
      msg["payload"] = std::move(body);
    }
    Done(msg);
    Send(std::move(msg));
  }

  std::string method_, ret_, url_;
  std::optional<kainjow::mustache::mustache> url_template_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

NodePtr MakeHttpRequestNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<HttpRequestNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
