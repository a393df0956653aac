"""An emulated Raspberry Pi 3B running the arm64 agent (issue 16's stretch goal), used by
tests/integration/test_raspi3b.py and tests/bench/run_raspi3b.py.

A real conductor on 127.0.0.1 (HTTPS/WSS with a CA made here, or plain with plain=True), a board
created over REST, and deploy/scripts/raspi3b-boot.sh booting Debian 12's arm64 kernel on
`qemu-system-aarch64 -M raspi3b` (BCM2837 device tree) with the cross-built agent in its
initramfs. The agent enrols over QEMU's user-mode network on the emulated USB Ethernet (the host
is 10.0.2.2 there), checks the conductor's certificate, goes online, and drives the emulated
BCM2835 GPIO block through pinctrl-bcm2835 and libgpiod (/dev/gpiochip0): the real backend.

One-time set-up: `deploy/scripts/raspi3b-boot.sh --fetch-kernel`, the arm64 sysroot and the
cross-built agent (deploy/scripts/cross-build-arm64.sh); deploy/scripts/test.sh does all three.
"""

import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
KERNEL_ROOT = os.environ.get("EW_RPI_KERNEL_ROOT", os.path.join(ROOT, "build-rpi-kernel"))
SYSROOT = os.environ.get("EW_ARM64_SYSROOT", os.path.join(ROOT, "build-arm64-sysroot"))
ARM64_AGENT = os.environ.get("EW_ARM64_AGENT", os.path.join(ROOT, "build-arm64/device-agent/edgewire-agent"))
# The libgpiod backend's own unit tests, cross-built (deploy/scripts/cross-build-arm64.sh).
ARM64_GPIOD_TEST = os.path.join(os.path.dirname(ARM64_AGENT), "..", "tests", "device-agent", "agent_gpiod_chip_test")


def missing():
    """Why an emulated board cannot be booted here, or None."""
    if shutil.which("qemu-system-aarch64") is None:
        return "qemu-system-aarch64 is not installed (apt-get install qemu-system-arm)"
    if not os.path.isfile(os.path.join(KERNEL_ROOT, ".edgewire-kernel-complete")):
        return f"no arm64 kernel at {KERNEL_ROOT} (deploy/scripts/raspi3b-boot.sh --fetch-kernel)"
    if not os.path.isfile(os.path.join(SYSROOT, ".edgewire-sysroot-complete")):
        return f"no arm64 sysroot at {SYSROOT} (deploy/scripts/arm64-sysroot.sh)"
    if not os.access(ARM64_AGENT, os.X_OK):
        return f"no arm64 agent at {ARM64_AGENT} (deploy/scripts/cross-build-arm64.sh)"
    return None


def make_pki(directory):
    """A CA and a server certificate naming 10.0.2.2 (the host as the guest sees it) and 127.0.0.1."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=30)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "2", "-subj", "/CN=Edgewire raspi3b test CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", "/CN=conductor")
    with open(os.path.join(directory, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:10.0.2.2,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    os.chmod(os.path.join(directory, "server.key"), 0o600)
    return {name: os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server.key")}


class TlsConductor(harness.Conductor):
    """The harness conductor serving HTTPS/WSS; REST from here checks its certificate with the CA."""

    def __init__(self, workdir, pki, **kw):
        super().__init__(workdir, extra_server=f'tls_cert = "{pki["server.pem"]}"\ntls_key = "{pki["server.key"]}"', **kw)
        self.context = ssl.create_default_context(cafile=pki["ca.pem"])

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def rest(self, method, path, body=None, token=None, raw=None, content_type="application/json"):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", content_type)
        if token:
            req.add_header("X-Auth-Token", token)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.context) as resp:
                text = resp.read().decode()
                return resp.status, (json.loads(text) if text and resp.headers.get_content_type() == "application/json" else text)
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text


def run_guest_test(program, timeout=240):
    """Boots the emulated board with `program` (an arm64 test) run first in the guest against
    /dev/gpiochip0, then reset; returns (the program's exit status or None, the console text)."""
    with tempfile.TemporaryDirectory(prefix="ew-raspi3b-test-") as workdir:
        console = os.path.join(workdir, "console.log")
        subprocess.run([os.path.join(ROOT, "deploy/scripts/raspi3b-boot.sh"), "--guest-test", program,
                        "--log", console, "--timeout", str(int(timeout))],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout + 30, check=False)
        with open(console, errors="replace") as f:
            text = f.read()
    status = re.search(r"edgewire-init: guest test exit (\d+)", text)
    return (int(status.group(1)) if status else None), text


class Outcome:
    """How far the emulated board got: `steps` maps each step reached to seconds since QEMU
    started, `facts` holds what was read on the way (sys.info, ping times), `error` says what
    stopped it (None when every step passed) and `console` has the guest's serial output."""

    def __init__(self):
        self.steps = {}
        self.facts = {}
        self.error = None
        self.console = ""

    @property
    def ok(self):
        return self.error is None


def boot_and_check(timeout=600, plain=False, keep=False, say=print):
    """Boots the emulated board against a fresh conductor, walks every step, stops both; returns
    an Outcome (never raises for a failed step). `say` gets one line per step as it happens."""
    outcome = Outcome()
    workdir = tempfile.mkdtemp(prefix="ew-raspi3b-")
    pki = None if plain else make_pki(workdir)
    # The heartbeat crosses an emulated CPU and USB link: the shipped default timeout.
    if pki:
        conductor = TlsConductor(workdir, pki, heartbeat_timeout_ms=4000, log_level="info").start()
    else:
        conductor = harness.Conductor(workdir, heartbeat_timeout_ms=4000, log_level="info").start()
    token = conductor.login()
    board_id, code = conductor.create_board(token, "pi3b-emulated")
    console = os.path.join(workdir, "console.log")
    url = f"{'http' if plain else 'https'}://10.0.2.2:{conductor.port}"
    started = time.monotonic()
    qemu = subprocess.Popen([os.path.join(ROOT, "deploy/scripts/raspi3b-boot.sh"), "--url", url, "--code", code,
                             "--log", console, "--timeout", str(int(timeout))]
                            + ([] if plain else ["--ca", pki["ca.pem"]]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def seen(pattern):
        try:
            with open(console, errors="replace") as f:
                return re.search(pattern, f.read())
        except OSError:
            return None

    def step(name, predicate, within):
        deadline = min(time.monotonic() + within, started + timeout)
        while time.monotonic() < deadline:
            if qemu.poll() is not None:
                raise RuntimeError(f"QEMU exited ({qemu.returncode}) before: {name}")
            value = predicate()
            if value:
                outcome.steps[name] = round(time.monotonic() - started, 1)
                say(f"{outcome.steps[name]:7.1f} s  {name}")
                return value
            time.sleep(0.25)
        raise RuntimeError(f"timed out waiting for: {name}")

    def rest(method, path, body=None):
        return conductor.rest(method, path, body, token=token)

    try:
        step("kernel started", lambda: seen(r"Linux version \S+"), timeout)
        init = step("initramfs /init ran", lambda: seen(r"edgewire-init: kernel (\S+) on ([^\r\n]*)"), timeout)
        outcome.facts["kernel"], outcome.facts["model"] = init.group(1), init.group(2).strip()
        step("USB network up", lambda: seen(r"edgewire-init: network interface '\w+'"), timeout)
        step("enrolled", lambda: seen(r"edgewire-init: enrol exit 0"), timeout)
        step("joined", lambda: seen(r"joined as board="), timeout)
        transport = seen(r"conductor=(wss?)://10\.0\.2\.2")
        outcome.facts["transport"] = transport.group(1) if transport else "?"
        if not plain and outcome.facts["transport"] != "wss":
            raise RuntimeError("the agent did not connect over wss://")
        step("board online", lambda: (lambda r: r[0] == 200 and r[1].get("status") == "online")(
            rest("GET", f"/v1/boards/{board_id}")), 60)

        def info():
            status, body = rest("POST", f"/v1/boards/{board_id}/calls/sys.info", {})
            return body.get("kwargs") if status == 200 else None
        sysinfo = step("sys.info answered", info, 60)
        outcome.facts["sysinfo"] = sysinfo
        if sysinfo.get("machine") != "aarch64":
            raise RuntimeError(f"sys.info says machine {sysinfo.get('machine')!r}, not aarch64")
        chips = {c["name"]: c for c in sysinfo.get("gpioChips", [])}
        chip = chips.get("gpiochip0")
        if not chip or chip.get("backend") != "libgpiod" or chip.get("error") or "GPIO17" not in chip.get("lineNames", []):
            raise RuntimeError(f"gpiochip0 is not a working libgpiod chip with GPIO17: {chip}")

        for value in (1, 0, 1, 0):
            status, body = rest("PUT", f"/v1/boards/{board_id}/gpio/GPIO17", {"value": value})
            if status != 200:
                raise RuntimeError(f"PUT GPIO17={value}: {status} {body}")
            status, body = rest("GET", f"/v1/boards/{board_id}/gpio/GPIO17")
            if status != 200 or body.get("value") != value:
                raise RuntimeError(f"GPIO17 read back {status} {body} after writing {value}")
        status, body = rest("GET", f"/v1/boards/{board_id}/gpio/GPIO17")
        outcome.facts["gpio17"] = body
        outcome.steps["GPIO17 written and read back"] = round(time.monotonic() - started, 1)
        say(f"{outcome.steps['GPIO17 written and read back']:7.1f} s  GPIO17 written 1/0/1/0 and read back (libgpiod)")

        pings = []
        for _ in range(20):
            t0 = time.monotonic()
            status, _ = rest("POST", f"/v1/boards/{board_id}/calls/sys.ping", {})
            if status != 200:
                raise RuntimeError(f"sys.ping answered {status}")
            pings.append((time.monotonic() - t0) * 1000)
        pings.sort()
        outcome.facts["ping_ms_p50"] = round(pings[len(pings) // 2], 2)
        outcome.facts["ping_ms_max"] = round(pings[-1], 2)
        say(f"           sys.ping through the emulated board: p50 {outcome.facts['ping_ms_p50']} ms, "
            f"max {outcome.facts['ping_ms_max']} ms")
    except Exception as e:  # noqa: BLE001 — the outcome says how far the board got and why it stopped
        outcome.error = str(e)
    finally:
        # The boot script, `timeout` and QEMU share the session's process group: stop all of them.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(qemu.pid, sig)
            except ProcessLookupError:
                break
            try:
                qemu.wait(timeout=15)
                break
            except subprocess.TimeoutExpired:
                continue
        conductor.stop()
        if os.path.exists(console):
            with open(console, errors="replace") as f:
                outcome.console = f.read()
        if keep:
            say(f"work directory: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return outcome
