"""Agent updates over the air end to end (issue 16), with the amd64 package.

The packages are built with CPack as test_packages.py builds them (deploy/scripts/package.sh,
or taken from $EW_DEB_DIR). The board is a throwaway dpkg root (`dpkg --root`, holding only
/bin/sh for the maintainer scripts) with edgewire-agent installed from the .deb; the agent that
runs is the one dpkg put there, /usr/bin/edgewire-agent of that root, against a real conductor on
127.0.0.1. What systemd does on a board is played by this test, and only that: a supervisor that
starts the installed agent again whenever it exits (Restart=), and a watcher that runs the
installed root helper /usr/lib/edgewire/edgewire-agent-update when the agent writes its request
(edgewire-agent-update.path). dpkg, the helper, its sha256 checks, its health-marker wait and its
rollback are the real ones.

Packages are signed as an operator signs them (`edgewire package keygen`, `edgewire package
sign`), and the board trusts the public key in its update-keys directory (the helper's
EW_UPDATE_KEYS_DIR, root's, as /etc/edgewire/update-keys on a board).

Cases: a good update comes online; a package whose agent exits at once is rolled back by the
board itself and the board comes back on the old version; a package whose bytes do not match the
sha256 is refused by the board (and by the helper); a package signed by a key the board does not
trust is refused by the helper and the refusal reaches the conductor; the conductor refuses
unsigned packages; operators are refused."""

import base64
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
sys.path.insert(0, os.path.join(ROOT, "tests/integration"))
from harness import CLI, Conductor, wait_until  # noqa: E402

BUILD = os.environ.get("EW_BIN_DIR", os.path.join(ROOT, "build"))
VERSION = "0.1.0-1"
PASSWORD = "update-operator-pw"


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=kw.pop("timeout", 600), **kw)


def repack(deb, version, tmp, broken=False):
    """`deb` as `version`; `broken`: its agent exits at once (it can never come online)."""
    unpacked = os.path.join(tmp, f"unpacked-{version}")
    assert run("dpkg-deb", "-R", deb, unpacked).returncode == 0
    control = os.path.join(unpacked, "DEBIAN/control")
    with open(control) as f:
        text = f.read().replace(f"Version: {VERSION}", f"Version: {version}")
    with open(control, "w") as f:
        f.write(text)
    if broken:
        agent = os.path.join(unpacked, "usr/bin/edgewire-agent")
        with open(agent, "w") as f:
            f.write("#!/bin/sh\necho 'edgewire-agent: broken build' >&2\nexit 1\n")
        os.chmod(agent, 0o755)
        md5sums = os.path.join(unpacked, "DEBIAN/md5sums")
        if os.path.exists(md5sums):
            os.remove(md5sums)
    out = os.path.join(tmp, f"edgewire-agent_{version}_amd64.deb")
    built = run("dpkg-deb", "--root-owner-group", "-b", unpacked, out)
    assert built.returncode == 0, built.stderr
    return out


class Board:
    """A board made of a dpkg root, the installed agent under a supervisor, and the helper's watcher."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.root = os.path.join(tmp, "root")
        self.update_dir = os.path.join(tmp, "update")
        self.keys_dir = os.path.join(tmp, "update-keys")
        self.keep_dir = os.path.join(tmp, "keep")
        self.credential = os.path.join(tmp, "agent.json")
        self.config = os.path.join(tmp, "agent.toml")
        self.log_path = os.path.join(tmp, "agent.log")
        self.helper_log = os.path.join(tmp, "helper.log")
        self.pid_file = os.path.join(tmp, "agent.pid")
        self.stop_flag = os.path.join(tmp, "agent.stopped")
        self.starts = 0
        self.exits = []
        self.helper_runs = 0
        self.stopping = threading.Event()
        self.proc = None
        self.helper = None  # the update helper while it runs (its own process group)
        self.helper_lock = threading.Lock()
        # The agent runs unprivileged, as on a board (User=edgewire): here as `nobody`, which owns
        # the agent's directories; the helper is told that account (EW_AGENT_USER).
        self.user = pwd.getpwnam("nobody")
        os.makedirs(tmp, exist_ok=True)
        os.chmod(tmp, 0o755)
        for d in ("update", "functions", "containers", "flows", "spool"):
            os.makedirs(os.path.join(tmp, d), exist_ok=True)
            os.chown(os.path.join(tmp, d), self.user.pw_uid, self.user.pw_gid)
        admindir = os.path.join(self.root, "var/lib/dpkg")
        for d in ("info", "updates", "triggers"):
            os.makedirs(os.path.join(admindir, d), exist_ok=True)
        for f in ("status", "available"):
            open(os.path.join(admindir, f), "a").close()
        # Maintainer scripts run chrooted into the root: they need /bin/sh and nothing else.
        for path in ("/bin/dash", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"):
            target = os.path.join(self.root, path.lstrip("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy(path, target)
        os.symlink("dash", os.path.join(self.root, "bin/sh"))
        os.makedirs(os.path.join(self.root, "dev"))
        os.mknod(os.path.join(self.root, "dev/null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        for d in ("tmp", "etc", "usr/bin", "usr/sbin", "sbin"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        self.env = dict(os.environ,
                        EW_UPDATE_DIR=self.update_dir,
                        EW_UPDATE_KEEP_DIR=self.keep_dir,
                        EW_UPDATE_KEYS_DIR=self.keys_dir,
                        # Only edgewire-agent is in this root, not its dependencies.
                        EW_DPKG=f"dpkg --root={self.root} --force-depends --force-bad-path",
                        EW_DPKG_QUERY=f"dpkg-query --root={self.root}",
                        # systemctl stop: the supervisor starts nothing until the flag goes; returns
                        # once the agent has exited. systemctl restart: starts a stopped agent,
                        # or stops a running one and the supervisor starts it again.
                        EW_STOP_AGENT=f"touch {self.stop_flag}; [ ! -e {self.pid_file} ] || kill $(cat {self.pid_file}); "
                                      f"while [ -e {self.pid_file} ]; do sleep 0.1; done",
                        EW_RESTART_AGENT=f"if [ -e {self.stop_flag} ]; then rm -f {self.stop_flag}; "
                                         f"else kill $(cat {self.pid_file}); fi",
                        EW_UPDATE_POLL="1",
                        EW_AGENT_USER="nobody")

    def dpkg(self, *args):
        return run("dpkg", f"--root={self.root}", "--force-depends", "--force-bad-path", *args)

    def installed_version(self):
        out = run("dpkg-query", f"--root={self.root}", "-W", "-f=${Version}", "edgewire-agent")
        return out.stdout.strip()

    @property
    def agent(self):
        return os.path.join(self.root, "usr/bin/edgewire-agent")

    def write_config(self):
        with open(self.config, "w") as f:
            f.write(f"""[agent]
credential_path = "{self.credential}"
reconnect_initial_ms = 100
reconnect_max_ms = 500
[functions]
runtime = "none"
state_dir = "{os.path.join(self.tmp, 'functions')}"
work_dir = "{os.path.join(self.tmp, 'containers')}"
[flows]
state_dir = "{os.path.join(self.tmp, 'flows')}"
[spool]
dir = "{os.path.join(self.tmp, 'spool')}"
[log]
level = "info"
[update]
dir = "{self.update_dir}"
""")

    def start(self):
        threading.Thread(target=self.supervise, daemon=True).start()
        threading.Thread(target=self.watch_requests, daemon=True).start()

    def supervise(self):
        """Restart=always, RestartSec=0.3: starts the agent the root has now, whatever it is,
        unless it was stopped (systemctl stop)."""
        while not self.stopping.is_set():
            if os.path.exists(self.stop_flag):
                time.sleep(0.1)
                continue
            with open(self.log_path, "a") as log:
                self.proc = subprocess.Popen([self.agent, "run", "--config", self.config], stdout=log, stderr=log,
                                             user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
            with open(self.pid_file + ".tmp", "w") as f:
                f.write(str(self.proc.pid))
            os.replace(self.pid_file + ".tmp", self.pid_file)
            if os.path.exists(self.stop_flag):  # stopped while it was being started
                self.proc.terminate()
            self.starts += 1
            self.exits.append(self.proc.wait())
            os.remove(self.pid_file)
            time.sleep(0.3)

    def watch_requests(self):
        """edgewire-agent-update.path: PathExists=<update dir>/request (or the helper's record of an
        interrupted update, <keep dir>/pending) starts the installed helper."""
        while not self.stopping.is_set():
            if os.path.exists(os.path.join(self.update_dir, "request")) or \
                    os.path.exists(os.path.join(self.keep_dir, "pending")):
                self.run_helper()
            time.sleep(0.2)

    def run_helper(self):
        """One run of the installed helper, as its unit would start it. It runs in a process group of
        its own, so that stop() ends it with what it started (a helper still waiting for a health
        marker would otherwise outlive the test that made it)."""
        with self.helper_lock:
            if self.stopping.is_set():
                return
            self.helper_runs += 1
            with open(self.helper_log, "a") as log:
                self.helper = subprocess.Popen([os.path.join(self.root, "usr/lib/edgewire/edgewire-agent-update")],
                                               env=self.env, stdout=log, stderr=log, start_new_session=True)
        try:
            self.helper.wait(timeout=600)
        except subprocess.TimeoutExpired:
            os.killpg(self.helper.pid, signal.SIGKILL)
            self.helper.wait()

    def stop(self):
        with self.helper_lock:
            self.stopping.set()
            helper = self.helper
        if helper is not None and helper.poll() is None:
            os.killpg(helper.pid, signal.SIGKILL)  # first: a running helper may start the agent again
            helper.wait()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def status(self):
        try:
            with open(os.path.join(self.update_dir, "status")) as f:
                return dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)
        except FileNotFoundError:
            return {}


class UpdateTestCase(unittest.TestCase):
    """What the update tests share: a conductor in self.tmp, its REST API and CLI with the admin's
    token, and the end of a test (logs shown when it failed, the directory removed)."""

    cli_timeout = 300  # seconds an `edgewire` command may take

    def rest(self, method, path, body=None, **kw):
        return self.conductor.rest(method, path, body, token=kw.pop("token", self.token), **kw)

    def cli(self, *args, token=None):
        env = dict(os.environ, EDGEWIRE_URL=self.conductor.url, EDGEWIRE_TOKEN=token or self.token)
        return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=self.cli_timeout)

    def finish(self, logs, tail):
        """Prints the last `tail` characters of each of `logs` when the test failed, stops the
        conductor and removes self.tmp (unless EW_KEEP_TMP)."""
        if not getattr(self._outcome, "success", True):
            for path in logs:
                if os.path.exists(path):
                    with open(path) as f:
                        print(f"==== {path}\n{f.read()[-tail:]}")
        self.conductor.stop()
        if not os.environ.get("EW_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


class AgentUpdateTest(UpdateTestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("dpkg --root needs root for its chrooted maintainer scripts")
        cls.deb_dir = os.environ.get("EW_DEB_DIR")
        if not cls.deb_dir:
            cls.deb_dir = os.path.join(BUILD, "packages-test")
            env = dict(os.environ, BUILD_DIR=os.path.join(ROOT, "build-deb-test"), OUT_DIR=cls.deb_dir, JOBS="2")
            built = run("bash", os.path.join(ROOT, "deploy/scripts/package.sh"), env=env, timeout=3000)
            assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        cls.deb = os.path.join(cls.deb_dir, f"edgewire-agent_{VERSION}_amd64.deb")
        assert os.path.exists(cls.deb), f"{cls.deb} was not built"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ew-update-")
        self.conductor = Conductor(self.tmp).start()
        self.token = self.conductor.login()
        self.board = Board(self.tmp)

    def tearDown(self):
        self.board.stop()
        self.finish([os.path.join(self.tmp, name) for name in ("agent.log", "helper.log", "conductor.log")], 6000)

    def keygen(self, name):
        """A signing key pair made the operator's way: <tmp>/<name>.key and <tmp>/<name>.pem."""
        out = self.cli("package", "keygen", os.path.join(self.tmp, name))
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return os.path.join(self.tmp, name)

    def sign(self, deb, key):
        out = self.cli("package", "sign", "--key", key + ".key", deb)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        with open(deb + ".sig", "rb") as f:
            return f.read()

    def upload(self, deb_path, signature, **kw):
        with open(deb_path, "rb") as f:
            deb = f.read()
        query = "" if signature is None else "?signature=" + base64.urlsafe_b64encode(signature).decode().rstrip("=")
        return self.rest("POST", "/v1/agent-packages" + query, raw=deb,
                         content_type="application/vnd.debian.binary-package", **kw)

    def enrolled_board(self):
        """Installs 0.1.0-1 in the root the way an installer does, keeps its .deb for rollbacks,
        enrols and starts the installed agent."""
        board_id = self.install_enrol_start(self.board, "pi-ota")
        self.assertEqual(self.board.installed_version(), VERSION)
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", timeout=30, what="board online")
        return board_id

    def install_enrol_start(self, board, name):
        """`board` as an installer leaves it (0.1.0-1 installed, its .deb kept for rollbacks, the
        operator's public key trusted), enrolled as board `name` and started; returns its id."""
        installed = board.dpkg("-i", self.deb)
        self.assertEqual(installed.returncode, 0, installed.stdout + installed.stderr)
        os.makedirs(board.keep_dir, mode=0o700)
        shutil.copy(self.deb, os.path.join(board.keep_dir, "current.deb"))  # docs/INSTALL-PI.md
        # The operator's public key, installed on the board as docs/INSTALL-PI.md "Update keys" says.
        if not hasattr(self, "key"):
            self.key = self.keygen("operator")
        os.makedirs(board.keys_dir, mode=0o755)
        shutil.copy(self.key + ".pem", os.path.join(board.keys_dir, "operator.pem"))
        os.chmod(os.path.join(board.keys_dir, "operator.pem"), 0o644)
        board_id, code = self.conductor.create_board(self.token, name)
        enrol = run(board.agent, "enrol", "--conductor", self.conductor.url, "--code", code,
                    "--credential", board.credential)
        self.assertEqual(enrol.returncode, 0, enrol.stdout + enrol.stderr)
        os.chown(board.credential, board.user.pw_uid, board.user.pw_gid)  # the agent runs as that user
        board.write_config()
        board.start()
        return board_id

    def listed(self, board_id):
        status, body = self.rest("GET", "/v1/boards")
        self.assertEqual(status, 200, body)
        return next(b for b in body["boards"] if b["id"] == board_id)

    def test_a_good_update_comes_online_and_a_broken_one_is_rolled_back(self):
        board_id = self.enrolled_board()
        wait_until(lambda: self.listed(board_id).get("agentVersion", "").startswith("0.1.0"), what="version in the list")

        # 1. A working agent as 0.1.0-2: installed by the helper, joins, the marker commits it.
        good = repack(self.deb, "0.1.0-2", self.tmp)
        self.sign(good, self.key)
        out = self.cli("board", "update", "pi-ota", "--deb", good, "--deadline", "60")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn(f"{board_id}: online", out.stdout)
        self.assertEqual(self.board.installed_version(), "0.1.0-2")
        # The new agent reports online as it writes the marker; the helper sees the marker at its
        # next look (EW_UPDATE_POLL, 1 s) and keeps the package.
        wait_until(lambda: self.board.status().get("state") == "online", what="the helper keeping 0.1.0-2")
        wait_until(lambda: self.listed(board_id).get("packageVersion") == "0.1.0-2", what="0.1.0-2 in board list")
        listing = self.cli("board", "list")
        self.assertIn("0.1.0-2", listing.stdout)
        starts_before = self.board.starts

        # 2. An agent that exits at once, as 0.1.0-3, with a short deadline: it never joins, so the
        # helper reinstalls 0.1.0-2 by itself and the board comes back on it.
        broken = repack(self.deb, "0.1.0-3", self.tmp, broken=True)
        started = time.monotonic()
        out = self.cli("board", "update", board_id, "--deb", broken, "--sign-key", self.key + ".key", "--deadline", "15")
        self.assertEqual(out.returncode, 4, out.stdout + out.stderr)
        self.assertIn("rolled-back", out.stdout + out.stderr)
        self.assertGreaterEqual(time.monotonic() - started, 15, "rolled back before the deadline")
        self.assertEqual(self.board.installed_version(), "0.1.0-2")
        self.assertEqual(self.board.status().get("state"), "rolled-back")
        self.assertIn(1, self.board.exits[starts_before:], "the broken agent ran and failed")
        self.assertTrue(os.path.exists(os.path.join(self.board.keep_dir, "current.deb")))
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", timeout=30,
                   what="board back online on the old agent")
        status, updates = self.rest("GET", "/v1/agent-updates")
        self.assertEqual(status, 200, updates)
        latest = updates["updates"][0]
        self.assertEqual(latest["state"], "stopped")
        self.assertEqual(latest["boards"][0]["state"], "rolled-back")
        self.assertEqual(latest["boards"][0]["packageVersion"], "0.1.0-2")
        wait_until(lambda: self.listed(board_id).get("packageVersion") == "0.1.0-2", what="0.1.0-2 again")
        self.assertEqual(self.rest("POST", f"/v1/boards/{board_id}/calls/sys.ping", {})[0], 200)

    def test_bytes_that_do_not_match_the_sha256_are_never_installed(self):
        board_id = self.enrolled_board()
        good = repack(self.deb, "0.1.0-2", self.tmp)
        with open(good, "rb") as f:
            deb = f.read()
        signature = self.sign(good, self.key)
        status, package = self.upload(good, signature)
        self.assertEqual(status, 201, package)
        # The copy on the conductor's disk goes bad (same size, other bytes): the board must notice.
        stored = os.path.join(self.tmp, "conductor.db.agent-packages", package["sha256"] + ".deb")
        with open(stored, "r+b") as f:
            f.seek(len(deb) // 2)
            f.write(b"\0" * 64)
        status, rollout = self.rest("POST", "/v1/agent-updates", {"package": package["sha256"], "boardIds": [board_id],
                                                                  "deadlineSeconds": 30})
        self.assertEqual(status, 201, rollout)

        def state():
            return self.rest("GET", f"/v1/agent-updates/{rollout['id']}")[1]
        final = wait_until(lambda: (lambda r: r if r["state"] != "running" else None)(state()), timeout=60,
                           what="the rollout ends")
        self.assertEqual(final["state"], "stopped")
        self.assertEqual(final["boards"][0]["state"], "failed")
        self.assertIn("sha256", final["boards"][0]["message"])
        self.assertEqual(self.board.installed_version(), VERSION)
        self.assertEqual(self.board.helper_runs, 0, "nothing was staged for the helper")

        # The helper checks again what it is about to install: a request whose package does not
        # match is refused even when the agent's user wrote it (with the package's own signature).
        os.makedirs(self.board.update_dir, exist_ok=True)
        shutil.copy(good, os.path.join(self.board.update_dir, "upd-forged.deb"))
        shutil.copy(good + ".sig", os.path.join(self.board.update_dir, "upd-forged.sig"))
        with open(os.path.join(self.board.update_dir, "request"), "w") as f:
            f.write("id=upd-forged\nsha256=" + "ab" * 32 + f"\nsize={len(deb)}\nversion=0.1.0-2\ndeadline=30\n")
        wait_until(lambda: self.board.status().get("id") == "upd-forged", what="the helper's verdict")
        self.assertEqual(self.board.status()["state"], "failed")
        self.assertIn("sha256", self.board.status()["message"])
        self.assertEqual(self.board.installed_version(), VERSION)

    def test_a_package_the_board_does_not_trust_is_never_installed(self):
        board_id = self.enrolled_board()
        good = repack(self.deb, "0.1.0-2", self.tmp)
        # The conductor takes no unsigned package.
        status, body = self.upload(good, None)
        self.assertEqual(status, 400, body)
        self.assertIn("sign", body["error"]["message"])
        out = self.cli("board", "update", board_id, "--deb", good)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("package sign", out.stderr)
        # Signed, but by a key this board does not trust: the helper refuses it, and the agent
        # reports the refusal (nothing restarts it) so that the rollout ends at once.
        stranger = self.keygen("stranger")
        started = time.monotonic()
        out = self.cli("board", "update", board_id, "--deb", good, "--sign-key", stranger + ".key", "--deadline", "60")
        self.assertEqual(out.returncode, 4, out.stdout + out.stderr)
        self.assertIn("failed", out.stdout)
        self.assertIn("does not verify", out.stdout)
        self.assertLess(time.monotonic() - started, 50, "the refusal waited for a deadline instead of being reported")
        self.assertEqual(self.board.installed_version(), VERSION)
        self.assertEqual(self.board.helper_runs, 1)
        self.assertEqual(self.board.status()["state"], "failed")
        # A tampered package under the good key's signature: refused the same way.
        tampered = os.path.join(self.tmp, "tampered.deb")
        shutil.copy(good, tampered)
        self.sign(tampered, self.key)
        with open(tampered, "ab") as f:
            f.write(b"\0" * 8)
        out = self.cli("board", "update", board_id, "--deb", tampered, "--deadline", "60")
        self.assertEqual(out.returncode, 4, out.stdout + out.stderr)
        self.assertIn("does not verify", out.stdout)
        self.assertEqual(self.board.installed_version(), VERSION)
        self.assertEqual(self.rest("POST", f"/v1/boards/{board_id}/calls/sys.ping", {})[0], 200)

    def test_operators_may_not_update_boards(self):
        board_id = self.enrolled_board()
        status, user = self.rest("POST", "/v1/users", {"name": "op-ota", "password": PASSWORD,
                                                       "projectId": self.listed(board_id)["projectId"]})
        self.assertEqual(status, 201, user)
        operator = self.conductor.login("op-ota", PASSWORD)
        with open(self.deb, "rb") as f:
            deb = f.read()
        status, body = self.rest("POST", "/v1/agent-packages", raw=deb, token=operator,
                                 content_type="application/vnd.debian.binary-package")
        self.assertEqual(status, 403, body)
        status, body = self.rest("POST", f"/v1/boards/{board_id}/calls/sys.update", {"kwargs": {
            "updateId": "upd-x", "sha256": "0" * 64, "size": 1, "deadlineSeconds": 30}}, token=operator)
        self.assertEqual(status, 403, body)
        out = self.cli("board", "update", board_id, "--deb", self.deb, "--sign-key", self.key + ".key", token=operator)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("admin", out.stderr)
        # Not a .deb of edgewire-agent: refused before anything is stored.
        status, body = self.rest("POST", "/v1/agent-packages?signature=" + "A" * 86, raw=b"!<arch>\nnot really",
                                 content_type="application/vnd.debian.binary-package")
        self.assertEqual(status, 400, body)
        self.assertEqual(self.board.installed_version(), VERSION)


if __name__ == "__main__":
    unittest.main()
