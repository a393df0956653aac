"""Python client of the Edgewire GPIO broker (docs/GPIO.md, section Functions).

A function reaches the GPIO lines its function.json declares through the board agent, on the
unix socket named by $EDGEWIRE_GPIO_SOCKET (/run/edgewire/gpio.sock). Standard library only.

    import edgewire_gpio as gpio
    gpio.write("GPIO17", 1)
    level = gpio.read("GPIO4")
    edge = gpio.wait("GPIO4", edge="rising", timeout_ms=5000)  # None on timeout
    if edge:
        print(edge.edge, edge.timestamp_ns)

Errors raise GpioError with the broker's code ("permission_denied", "invalid_argument", ...)
and message.
"""

import json
import os
import socket
from collections import namedtuple

__all__ = ["GpioError", "Edge", "read", "write", "wait", "socket_path"]

DEFAULT_SOCKET = "/run/edgewire/gpio.sock"
SOCKET_ENV = "EDGEWIRE_GPIO_SOCKET"
_MAX_REPLY = 64 * 1024

Edge = namedtuple("Edge", ["edge", "timestamp_ns"])
Edge.__doc__ = "An edge of an input line: edge is 'rising' or 'falling', timestamp_ns monotonic."


class GpioError(Exception):
    """An error of the GPIO broker (or of reaching it)."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message


def socket_path():
    return os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET


def _call(request):
    path = socket_path()
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError as e:
        raise GpioError("unavailable", str(e)) from None
    with conn:
        try:
            conn.connect(path)
        except OSError as e:
            raise GpioError(
                "unavailable",
                "cannot reach the GPIO broker at %s: %s (does function.json declare gpio lines?)"
                % (path, e.strerror or e),
            ) from None
        try:
            conn.sendall(json.dumps(request, separators=(",", ":")).encode() + b"\n")
            reply = b""
            while b"\n" not in reply:
                chunk = conn.recv(4096)
                if not chunk:
                    raise GpioError("unavailable", "the GPIO broker closed the connection without a reply")
                reply += chunk
                if len(reply) > _MAX_REPLY:
                    raise GpioError("internal", "reply of the GPIO broker too long")
        except OSError as e:
            raise GpioError("unavailable", "GPIO broker: %s" % e) from None
    try:
        answer = json.loads(reply.split(b"\n", 1)[0])
    except ValueError:
        raise GpioError("internal", "reply of the GPIO broker is not JSON") from None
    if not isinstance(answer, dict):
        raise GpioError("internal", "unexpected reply from the GPIO broker")
    error = answer.get("error")
    if error is not None:
        raise GpioError(error.get("code", "internal"), error.get("message", ""))
    return answer


def _value(answer):
    value = answer.get("value")
    if value not in (0, 1) or isinstance(value, bool):
        raise GpioError("internal", "unexpected reply from the GPIO broker")
    return value


def read(line):
    """The level of a declared line: 0 or 1."""
    return _value(_call({"op": "read", "line": line}))


def write(line, value):
    """Sets a declared output to value (0/1 or False/True); returns the value written."""
    if value not in (0, 1):
        raise GpioError("invalid_argument", "value must be 0 or 1")
    return _value(_call({"op": "write", "line": line, "value": int(value)}))


def wait(line, edge="both", timeout_ms=None):
    """Waits for the next edge ("rising", "falling" or "both") of a declared input.

    Returns an Edge, or None when timeout_ms (None: no limit) passed first.
    """
    request = {"op": "wait", "line": line, "edge": edge}
    if timeout_ms is not None:
        request["timeoutMs"] = int(timeout_ms)
    answer = _call(request)
    if answer.get("timeout") is True:
        return None
    kind = answer.get("edge")
    if kind not in ("rising", "falling"):
        raise GpioError("internal", "unexpected reply from the GPIO broker")
    return Edge(kind, answer.get("timestampNs", 0))
