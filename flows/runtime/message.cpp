#include "flows/runtime/message.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace ew::flows::runtime {

Result<PropertyPath> PropertyPath::Parse(std::string_view expression) {
  PropertyPath path;
  path.text_ = std::string(expression);
  std::string_view s = expression;
  if (s.substr(0, 4) == "msg.") s.remove_prefix(4);
  auto bad = [&](const char* why) {
    return InvalidArgument("property \"" + std::string(expression) + "\": " + why);
  };
  if (s.empty()) return bad("empty");
  size_t i = 0;
  bool expect_name = true;
  while (i < s.size()) {
    char c = s[i];
    if (c == '[') {
      size_t close = s.find(']', i);
      if (close == std::string_view::npos) return bad("missing ]");
      std::string_view inner = s.substr(i + 1, close - i - 1);
      if (inner.size() >= 2 && (inner.front() == '"' || inner.front() == '\'') && inner.back() == inner.front()) {
        path.steps_.emplace_back(std::string(inner.substr(1, inner.size() - 2)));
      } else {
        if (inner.empty()) return bad("empty []");
        size_t index = 0;
        for (char d : inner) {
          if (d < '0' || d > '9') return bad("index is not a number");
          index = index * 10 + static_cast<size_t>(d - '0');
        }
        path.steps_.emplace_back(index);
      }
      i = close + 1;
      expect_name = false;
    } else if (c == '.') {
      if (expect_name) return bad("empty step");
      expect_name = true;
      ++i;
    } else {
      size_t end = s.find_first_of(".[", i);
      if (end == std::string_view::npos) end = s.size();
      path.steps_.emplace_back(std::string(s.substr(i, end - i)));
      i = end;
      expect_name = false;
    }
  }
  if (expect_name) return bad("ends with .");
  return path;
}

const nlohmann::json* PropertyPath::Get(const nlohmann::json& root) const {
  const nlohmann::json* cur = &root;
  for (const auto& step : steps_) {
    if (auto key = std::get_if<std::string>(&step)) {
      if (!cur->is_object()) return nullptr;
      auto it = cur->find(*key);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else {
      size_t index = std::get<size_t>(step);
      if (cur->is_array()) {
        if (index >= cur->size()) return nullptr;
        cur = &(*cur)[index];
      } else if (cur->is_object()) {
        auto it = cur->find(std::to_string(index));
        if (it == cur->end()) return nullptr;
        cur = &*it;
      } else {
        return nullptr;
      }
    }
  }
  return cur;
}

bool PropertyPath::Set(nlohmann::json& root, nlohmann::json value) const {
  nlohmann::json* cur = &root;
  for (size_t n = 0; n < steps_.size(); ++n) {
    const auto& step = steps_[n];
    bool last = n + 1 == steps_.size();
    if (auto key = std::get_if<std::string>(&step)) {
      if (cur->is_null()) *cur = nlohmann::json::object();
      if (!cur->is_object()) return false;
      cur = &(*cur)[*key];
    } else {
      size_t index = std::get<size_t>(step);
      if (cur->is_null()) *cur = nlohmann::json::array();
      if (cur->is_array()) {
        if (index > 100000) return false;  // a typo must not allocate gigabytes
        while (cur->size() <= index) cur->push_back(nullptr);
        cur = &(*cur)[index];
      } else if (cur->is_object()) {
        cur = &(*cur)[std::to_string(index)];
      } else {
        return false;
      }
    }
    if (last) *cur = std::move(value);
  }
  return true;
}

bool PropertyPath::Delete(nlohmann::json& root) const {
  if (steps_.empty()) return false;
  nlohmann::json* cur = &root;
  for (size_t n = 0; n + 1 < steps_.size(); ++n) {
    const auto& step = steps_[n];
    if (auto key = std::get_if<std::string>(&step)) {
      if (!cur->is_object() || !cur->contains(*key)) return false;
      cur = &(*cur)[*key];
    } else {
      size_t index = std::get<size_t>(step);
      if (!cur->is_array() || index >= cur->size()) return false;
      cur = &(*cur)[index];
    }
  }
  const auto& step = steps_.back();
  if (auto key = std::get_if<std::string>(&step)) return cur->is_object() && cur->erase(*key) > 0;
  size_t index = std::get<size_t>(step);
  if (!cur->is_array() || index >= cur->size()) return false;
  cur->erase(index);
  return true;
}

std::string NewMessageId() {
  // Not for security: ids only need to be distinct. A per-thread generator keeps this cheap.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

Msg NewMessage() { return Msg{{"_msgid", NewMessageId()}}; }

std::optional<double> ToNumber(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      return v.get<double>();
    case nlohmann::json::value_t::boolean:
      return v.get<bool>() ? 1.0 : 0.0;
    case nlohmann::json::value_t::null:
      return 0.0;
    case nlohmann::json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      size_t b = s.find_first_not_of(" \t\n\r");
      if (b == std::string::npos) return 0.0;
      size_t e = s.find_last_not_of(" \t\n\r");
      std::string t = s.substr(b, e - b + 1);
      char* end = nullptr;
      double d = std::strtod(t.c_str(), &end);
      if (end != t.c_str() + t.size()) return std::nullopt;
      return d;
    }
    case nlohmann::json::value_t::array:
      if (v.empty()) return 0.0;
      if (v.size() == 1) return ToNumber(v[0]);
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

std::string ToJsString(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::string:
      return v.get<std::string>();
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case nlohmann::json::value_t::number_float: {
      double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", d);
      // shortest form that round-trips, as JavaScript prints numbers
      for (int p = 1; p <= 17; ++p) {
        std::snprintf(buf, sizeof buf, "%.*g", p, d);
        if (std::strtod(buf, nullptr) == d) break;
      }
      return buf;
    }
    case nlohmann::json::value_t::object:
      return "[object Object]";
    case nlohmann::json::value_t::array: {
      std::string out;
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ',';
        if (!v[i].is_null()) out += ToJsString(v[i]);
      }
      return out;
    }
    default:
      return v.dump();
  }
}

bool IsTruthy(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return false;
    case nlohmann::json::value_t::boolean:
      return v.get<bool>();
    case nlohmann::json::value_t::string:
      return !v.get_ref<const std::string&>().empty();
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float: {
      double d = v.get<double>();
      return d != 0 && !std::isnan(d);
    }
    default:
      return true;
  }
}

bool LooseEquals(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_null() || b.is_null()) return a.is_null() && b.is_null();
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  if (a.type() == b.type()) {
    if (a.is_object() || a.is_array()) return false;  // identity in JavaScript: never equal after a copy
    return a == b;
  }
  if (a.is_structured() || b.is_structured()) return ToJsString(a) == ToJsString(b);
  auto x = ToNumber(a);
  auto y = ToNumber(b);
  return x && y && *x == *y;
}

std::optional<int> LooseCompare(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_string() && b.is_string()) {
    int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  auto x = ToNumber(a);
  auto y = ToNumber(b);
  if (!x || !y || std::isnan(*x) || std::isnan(*y)) return std::nullopt;
  return *x < *y ? -1 : *x > *y ? 1 : 0;
}

nlohmann::json NumberJson(double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9e15)
    return static_cast<int64_t>(value);
  return value;
}

}  // namespace ew::flows::runtime
