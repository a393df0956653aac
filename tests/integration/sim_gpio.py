"""Client of an agent's simulated-chip control socket (device-agent/gpio/sim_control.hpp): plays the
outside world (switches, sensors, square waves) into a running agent and reads back its outputs."""

import json
import socket
import time


class SimGpio:
    def __init__(self, path, timeout=30.0):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    @classmethod
    def when_ready(cls, path, timeout=10.0):
        """Connects once the agent listens on `path`. The socket file appears at bind(), a moment
        before listen(): until then a connect is refused, so refused (and missing) is retried."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return cls(path)
            except (ConnectionRefusedError, FileNotFoundError):
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    def close(self):
        self.sock.close()

    def request(self, **req):
        self.sock.sendall((json.dumps(req) + "\n").encode())
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the agent closed the simulation socket")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{answer['error']['code']}: {answer['error']['message']}")
        return answer

    def drive(self, line, value):
        return self.request(op="drive", line=line, value=value)["value"]

    def read(self, line):
        return self.request(op="read", line=line)["value"]

    def lines(self):
        return {l["name"]: l for l in self.request(op="lines")["lines"]}

    def square(self, line, period_us, cycles, paced=True):
        return self.request(op="square", line=line, periodUs=period_us, cycles=cycles, paced=paced)

    def series(self, line, samples, paced=True):
        """samples: [(delay_us, value), ...]"""
        return self.request(op="series", line=line, samples=[list(s) for s in samples], paced=paced)

    def wait_signal(self):
        return self.request(op="wait-square")


def sim_chip_config(control_path, name="sim0"):
    """Agent TOML for one simulated Raspberry Pi chip with a control socket."""
    return f"""
[[gpio.chip]]
name = "{name}"
backend = "sim"
lines = "raspberry-pi"
control = "{control_path}"
"""
