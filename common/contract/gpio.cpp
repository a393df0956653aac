#include "common/contract/gpio.hpp"

#include "common/contract/fields.hpp"
#include "common/gpio/trigger_spec.hpp"

namespace ew::contract::gpio {

using nlohmann::json;

namespace {

wamp::Payload Kwargs(json kwargs) { return wamp::Payload{json::array(), std::move(kwargs)}; }

Result<uint32_t> Offset(const Fields& f) {
  EW_TRY(uint64_t offset, f.Count("offset"));
  if (offset > UINT32_MAX) return f.Bad("offset", "out of range");
  return static_cast<uint32_t>(offset);
}

// A value a board answers: exactly 0 or 1.
Result<int> Value(const Fields& f) {
  const json* value = f.Find("value");
  if (!value) return f.Bad("value", "required");
  if (!value->is_number_integer() || (value->get<int64_t>() != 0 && value->get<int64_t>() != 1))
    return f.Bad("value", "must be 0 or 1");
  return static_cast<int>(value->get<int64_t>());
}

Result<LineInfo> ParseLine(const json& item) {
  EW_TRY(Fields f, Fields::Of(item, "gpio.lines reply: lines[]"));
  LineInfo line;
  EW_TRY(line.offset, Offset(f));
  EW_TRY(line.name, f.AnyString("name"));
  EW_TRY(line.used, f.BoolOr("used", false));
  EW_TRY(line.consumer, f.AnyString("consumer"));
  EW_TRY(line.direction, f.AnyString("direction"));
  EW_TRY(line.value, Value(f));
  return line;
}

Result<ChipLines> ParseChip(const json& item) {
  EW_TRY(Fields f, Fields::Of(item, "gpio.lines reply: chips[]"));
  ChipLines chip;
  EW_TRY(chip.name, f.String("name"));
  EW_TRY(chip.backend, f.AnyString("backend"));
  if (f.Has("error")) {
    EW_TRY(chip.error, f.AnyString("error"));
  }
  EW_TRY(json lines, f.Array("lines"));
  for (const json& line : lines) {
    EW_TRY(LineInfo info, ParseLine(line));
    chip.lines.push_back(std::move(info));
  }
  return chip;
}

}  // namespace

wamp::Payload LinesReply::ToPayload() const {
  json list = json::array();
  for (const ChipLines& chip : chips) {
    json lines = json::array();
    for (const LineInfo& line : chip.lines) {
      lines.push_back({{"offset", line.offset},
                       {"name", line.name},
                       {"used", line.used},
                       {"consumer", line.consumer},
                       {"direction", line.direction},
                       {"value", line.value}});
    }
    json item = {{"name", chip.name}, {"backend", chip.backend}, {"lines", std::move(lines)}};
    if (!chip.error.empty()) item["error"] = chip.error;
    list.push_back(std::move(item));
  }
  return Kwargs({{"chips", std::move(list)}});
}

Result<LinesReply> LinesReply::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "gpio.lines reply"));
  EW_TRY(json chips, f.Array("chips"));
  LinesReply out;
  for (const json& item : chips) {
    EW_TRY(ChipLines chip, ParseChip(item));
    out.chips.push_back(std::move(chip));
  }
  return out;
}

wamp::Payload ReadRequest::ToPayload() const { return Kwargs({{"line", line}}); }

Result<ReadRequest> ReadRequest::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "gpio.read", {"line"}));
  ReadRequest out;
  EW_TRY(out.line, f.String("line"));
  return out;
}

wamp::Payload WriteRequest::ToPayload() const { return Kwargs({{"line", line}, {"value", value}}); }

Result<WriteRequest> WriteRequest::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "gpio.write", {"line", "value"}));
  WriteRequest out;
  EW_TRY(out.line, f.String("line"));
  EW_TRY(out.value, f.Level("value"));
  return out;
}

json LineValue::ToJson() const { return {{"chip", chip}, {"line", line}, {"offset", offset}, {"value", value}}; }
wamp::Payload LineValue::ToPayload() const { return Kwargs(ToJson()); }

Result<LineValue> LineValue::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "gpio line reply"));
  LineValue out;
  EW_TRY(out.chip, f.String("chip"));
  EW_TRY(out.line, f.String("line"));
  EW_TRY(out.offset, Offset(f));
  EW_TRY(out.value, Value(f));
  return out;
}

wamp::Payload WatchRequest::ToPayload() const {
  json kwargs = {{"line", line}, {"edge", edge}, {"debounceMs", debounce_ms}};
  if (!bias.empty()) kwargs["bias"] = bias;
  return Kwargs(std::move(kwargs));
}

Result<WatchRequest> WatchRequest::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "gpio.watch", {"line", "edge", "bias", "debounceMs"}));
  WatchRequest out;
  EW_TRY(out.line, f.String("line"));
  EW_TRY(out.edge, f.StringOr("edge", "both"));
  if (auto edges = ew::gpio::ParseEdges(out.edge); !edges || *edges == ew::gpio::Edges::kNone)
    return f.Bad("edge", "must be rising, falling or both, not \"" + out.edge + "\"");
  EW_TRY(out.bias, f.StringOr("bias", ""));
  if (!out.bias.empty() && out.bias != "as-is" && out.bias != "disabled" && out.bias != "pull-up" &&
      out.bias != "pull-down")
    return f.Bad("bias", "must be as-is, disabled, pull-up or pull-down, not \"" + out.bias + "\"");
  EW_TRY(out.debounce_ms, f.IntOr("debounceMs", 0, 0, ew::gpio::kMaxDebounceMs));
  return out;
}

json WatchReply::ToJson() const {
  return {{"watch", watch}, {"chip", chip}, {"line", line}, {"offset", offset}, {"value", value}};
}
wamp::Payload WatchReply::ToPayload() const { return Kwargs(ToJson()); }

Result<WatchReply> WatchReply::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "gpio.watch reply"));
  WatchReply out;
  EW_TRY(out.watch, f.String("watch"));
  EW_TRY(out.chip, f.String("chip"));
  EW_TRY(out.line, f.String("line"));
  EW_TRY(out.offset, Offset(f));
  if (f.Has("value")) {
    EW_TRY(out.value, Value(f));
  }
  return out;
}

wamp::Payload UnwatchRequest::ToPayload() const { return Kwargs({{"watch", watch}}); }

Result<UnwatchRequest> UnwatchRequest::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "gpio.unwatch", {"watch"}));
  UnwatchRequest out;
  EW_TRY(out.watch, f.String("watch"));
  return out;
}

json EdgeEvent::ToJson() const {
  return {{"chip", chip},   {"line", line},   {"offset", offset}, {"edge", edge},
          {"value", value}, {"timestampNs", timestamp_ns}, {"seq", seq}};
}
wamp::Payload EdgeEvent::ToPayload() const { return Kwargs(ToJson()); }

Result<EdgeEvent> EdgeEvent::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "gpio.event"));
  EdgeEvent out;
  EW_TRY(out.chip, f.String("chip"));
  EW_TRY(out.line, f.String("line"));
  EW_TRY(out.offset, Offset(f));
  EW_TRY(out.edge, f.String("edge"));
  if (out.edge != "rising" && out.edge != "falling") return f.Bad("edge", "must be rising or falling");
  EW_TRY(out.value, Value(f));
  EW_TRY(out.timestamp_ns, f.Int("timestampNs"));
  EW_TRY(out.seq, f.Count("seq"));
  return out;
}

}  // namespace ew::contract::gpio
