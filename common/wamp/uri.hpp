// WAMP URI checks and the Edgewire board namespace "ew.board.<board id>.<suffix>", shared by the
// router's authorization (a board may use only its own prefix) and the agent's registrations.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ew::wamp {

// Strict WAMP URI: components of [0-9a-z_] separated by '.', plus '-' inside components because
// board ids look like "brd-3f9a0c1d2e4b5a69". With allow_empty_components, components may be
// empty ("ew.board..gpio.event", "ew.board."), as wildcard and prefix patterns need. The empty
// string is never valid: a pattern matching everything is not something a client may ask for.
bool IsValidUri(std::string_view uri, bool allow_empty_components = false);

// "ew.board.<board_id>.<suffix>"; "ew.board.<board_id>" when suffix is empty.
std::string BoardUri(std::string_view board_id, std::string_view suffix);

// The board id of "ew.board.<id>.<rest>" or of the prefix "ew.board.<id>" (id and rest
// non-empty), nullopt for any other URI.
// Only the shape is checked: callers validate the whole URI with IsValidUri first.
std::optional<std::string> BoardIdFromUri(std::string_view uri);

// BoardIdFromUri's id and what follows "ew.board.<id>." ("" for the prefix "ew.board.<id>"),
// both within `uri`; nullopt where BoardIdFromUri gives nullopt.
struct BoardUriParts {
  std::string_view board_id;
  std::string_view suffix;
};
std::optional<BoardUriParts> SplitBoardUri(std::string_view uri);

// True when `prefix` is a whole-component prefix of `uri`: "ew.board" matches "ew.board" and
// "ew.board.x", not "ew.boardx". A prefix ending in '.' ("ew.board.") matches what it starts;
// the empty prefix matches every URI.
bool HasPrefix(std::string_view uri, std::string_view prefix);

}  // namespace ew::wamp
