#include "common/contract/update.hpp"

#include <array>

#include "common/contract/fields.hpp"
#include "common/ids/ids.hpp"

namespace ew::contract::update {

namespace {

constexpr std::array<std::string_view, 6> kStateNames = {"pending", "fetching", "installing",
                                                         "online",  "rolled-back", "failed"};
constexpr uint64_t kMaxChunkBytes = 256u << 10;
constexpr size_t kMaxVersionBytes = 128;
constexpr size_t kMaxMessageBytes = 1024;

bool IsHex64(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// A Debian version as dpkg allows it (and nothing a shell or a file name could misread).
bool IsVersionText(std::string_view text) {
  if (text.size() > kMaxVersionBytes) return false;
  for (char c : text) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
                    c == '+' || c == '-' || c == '~' || c == ':';
    if (!ok) return false;
  }
  return true;
}

Result<std::string> UpdateId(const Fields& f) {
  EW_TRY(std::string id, f.String("updateId"));
  if (!IsUpdateId(id)) return f.Bad("updateId", "must be 1 to 64 of A-Z a-z 0-9 _ -");
  return id;
}

// An optional string field that may also be empty ("" = not known).
Result<std::string> OptionalString(const Fields& f, const char* key) {
  if (!f.Has(key)) return std::string();
  return f.AnyString(key);
}

Result<std::string> Version(const Fields& f, const char* key) {
  EW_TRY(std::string version, OptionalString(f, key));
  if (!IsVersionText(version)) return f.Bad(key, "is not a package version");
  return version;
}

}  // namespace

std::string_view Name(UpdateState state) { return kStateNames[static_cast<size_t>(state)]; }

Result<UpdateState> ParseUpdateState(std::string_view text) {
  for (size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == text) return static_cast<UpdateState>(i);
  }
  return InvalidArgument("unknown update state \"" + std::string(text.substr(0, 32)) + "\"");
}

bool IsFinal(UpdateState state) {
  return state == UpdateState::kOnline || state == UpdateState::kRolledBack || state == UpdateState::kFailed;
}

bool IsUpdateId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

wamp::Payload UpdateRequest::ToPayload() const {
  wamp::Payload out;
  out.kwargs = {{"updateId", update_id}, {"sha256", sha256},   {"size", size},
                {"version", version},    {"deadlineSeconds", deadline_seconds}};
  if (!signature.empty()) out.kwargs["signature"] = ids::Base64(signature);
  return out;
}

Result<UpdateRequest> UpdateRequest::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "sys.update", {"updateId", "sha256", "size", "version", "deadlineSeconds", "signature"}));
  UpdateRequest out;
  EW_TRY(out.update_id, UpdateId(f));
  EW_TRY(out.sha256, f.String("sha256"));
  if (!IsHex64(out.sha256)) return f.Bad("sha256", "must be 64 lowercase hex digits");
  EW_TRY(out.size, f.Count("size"));
  if (out.size == 0 || out.size > kMaxPackageBytes)
    return f.Bad("size", "must be from 1 to " + std::to_string(kMaxPackageBytes) + " bytes");
  EW_TRY(out.version, Version(f, "version"));
  EW_TRY(out.deadline_seconds, f.IntOr("deadlineSeconds", 120, kMinDeadlineSeconds, kMaxDeadlineSeconds));
  if (f.Has("signature")) {
    EW_TRY(std::string text, f.String("signature"));
    if (text.size() > 128 || !ids::Base64Decode(text, &out.signature) || out.signature.size() != kSignatureBytes)
      return f.Bad("signature", "must be base64 of a " + std::to_string(kSignatureBytes) + "-byte Ed25519 signature");
  }
  return out;
}

wamp::Payload UpdateReport::ToPayload() const {
  wamp::Payload out;
  out.kwargs = {{"updateId", update_id},
                {"state", std::string(Name(state))},
                {"message", message},
                {"agentVersion", agent_version},
                {"packageVersion", package_version}};
  return out;
}

Result<UpdateReport> UpdateReport::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "update report",
                              {"updateId", "state", "message", "agentVersion", "packageVersion"}));
  UpdateReport out;
  EW_TRY(out.update_id, UpdateId(f));
  EW_TRY(std::string state, f.String("state"));
  auto parsed = ParseUpdateState(state);
  if (!parsed) return f.Bad("state", parsed.error().message);
  out.state = *parsed;
  EW_TRY(out.message, OptionalString(f, "message"));
  if (out.message.size() > kMaxMessageBytes) out.message.resize(kMaxMessageBytes);
  EW_TRY(out.agent_version, OptionalString(f, "agentVersion"));
  if (out.agent_version.size() > kMaxVersionBytes) return f.Bad("agentVersion", "is too long");
  EW_TRY(out.package_version, Version(f, "packageVersion"));
  return out;
}

wamp::Payload FetchRequest::ToPayload() const {
  wamp::Payload out;
  out.kwargs = {{"updateId", update_id}, {"offset", offset}, {"length", length}};
  return out;
}

Result<FetchRequest> FetchRequest::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "update.fetch", {"updateId", "offset", "length"}));
  FetchRequest out;
  EW_TRY(out.update_id, UpdateId(f));
  EW_TRY(out.offset, f.Count("offset"));
  EW_TRY(out.length, f.Count("length"));
  if (out.length == 0 || out.length > kMaxChunkBytes)
    return f.Bad("length", "must be from 1 to " + std::to_string(kMaxChunkBytes));
  return out;
}

}  // namespace ew::contract::update
