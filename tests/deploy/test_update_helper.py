"""The root helper of agent updates (deploy/scripts/edgewire-agent-update) against an agent that
plays tricks in its own update directory: the helper runs as root, the directory belongs to the
unprivileged agent, so every path there may be a symbolic link. Whatever the agent plants, root
must not write, chmod or remove anything the agent could not touch itself, nor copy root-only
files into its own. Runs the real script as root with a throwaway directory owned by `nobody`.

Signed packages: the agent's user can write a package and a request of its own, so root installs
only a package signed by a key in the root-owned key directory. Those cases install tiny
edgewire-agent packages into a throwaway dpkg root (`dpkg --root`) with the real dpkg; keys and
signatures are made with the openssl CLI, as an operator could make them by hand."""

import hashlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HELPER = os.path.join(ROOT, "deploy", "scripts", "edgewire-agent-update")


@unittest.skipUnless(os.geteuid() == 0, "needs root: the helper's privileges are what is tested")
class UpdateHelperTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="ew-update-helper-")
        os.chmod(self.work, 0o755)
        self.nobody = pwd.getpwnam("nobody")
        self.keep = os.path.join(self.work, "keep")
        # Root's files the agent must not reach: a directory of root's with a file in it.
        self.rootdir = os.path.join(self.work, "rootdir")
        os.mkdir(self.rootdir, 0o755)
        self.victim = os.path.join(self.rootdir, "status")
        with open(self.victim, "w") as f:
            f.write("precious\n")
        os.chmod(self.victim, 0o600)
        self.secret = os.path.join(self.rootdir, "secret")
        with open(self.secret, "w") as f:
            f.write("id=leaked\nsha256=" + "a" * 64 + "\ndeadline=60\n")
        os.chmod(self.secret, 0o600)

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def run_helper(self, update_dir, **env_overrides):
        env = dict(os.environ, EW_UPDATE_DIR=update_dir, EW_UPDATE_KEEP_DIR=self.keep,
                   EW_UPDATE_KEYS_DIR=os.path.join(self.work, "no-keys"),
                   EW_DPKG="false", EW_DPKG_QUERY="true", EW_RESTART_AGENT="true", EW_UPDATE_POLL="1",
                   EW_AGENT_USER="nobody")
        env.update(env_overrides)
        return subprocess.run(["sh", HELPER], env=env, capture_output=True, text=True, timeout=60)

    def agent_dir(self):
        d = os.path.join(self.work, "update")
        os.mkdir(d, 0o755)
        os.chown(d, self.nobody.pw_uid, self.nobody.pw_gid)
        return d

    def test_an_update_directory_swapped_for_a_link_to_roots_directory_gets_no_write(self):
        link = os.path.join(self.work, "update")
        os.symlink(self.rootdir, link)
        os.lchown(link, self.nobody.pw_uid, self.nobody.pw_gid)
        with open(os.path.join(self.rootdir, "request"), "w") as f:
            f.write("id=bad id\n")
        os.chmod(os.path.join(self.rootdir, "request"), 0o644)
        result = self.run_helper(link)
        self.assertNotEqual(result.returncode, 0, result.stderr)
        with open(self.victim) as f:
            self.assertEqual(f.read(), "precious\n")
        self.assertEqual(stat.S_IMODE(os.stat(self.victim).st_mode), 0o600)
        self.assertFalse(os.path.exists(os.path.join(self.rootdir, "status.tmp")))
        self.assertTrue(os.path.exists(os.path.join(self.rootdir, "request")), "root removed a file of root's")

    def test_a_request_linked_to_a_root_only_file_is_not_read_as_root(self):
        d = self.agent_dir()
        request = os.path.join(d, "request")
        os.symlink(self.secret, request)
        os.lchown(request, self.nobody.pw_uid, self.nobody.pw_gid)
        result = self.run_helper(d)
        self.assertNotEqual(result.returncode, 0, result.stderr)
        copied = os.path.join(self.keep, "request")
        if os.path.exists(copied):
            with open(copied) as f:
                self.assertNotIn("leaked", f.read())
        # The failure is reported where the agent reads it, as the agent's own file.
        status = os.path.join(d, "status")
        with open(status) as f:
            self.assertIn("state=failed", f.read())
        self.assertEqual(os.stat(status).st_uid, self.nobody.pw_uid)

    def test_a_staged_package_linked_to_a_root_only_file_is_not_copied(self):
        d = self.agent_dir()
        with open(os.path.join(d, "request"), "w") as f:
            f.write("id=u1\nsha256=" + "b" * 64 + "\ndeadline=60\n")
        os.chown(os.path.join(d, "request"), self.nobody.pw_uid, self.nobody.pw_gid)
        staged = os.path.join(d, "u1.deb")
        os.symlink(self.secret, staged)
        os.lchown(staged, self.nobody.pw_uid, self.nobody.pw_gid)
        result = self.run_helper(d)
        self.assertNotEqual(result.returncode, 0, result.stderr)
        new = os.path.join(self.keep, "new.deb")
        if os.path.exists(new):
            with open(new) as f:
                self.assertNotIn("leaked", f.read())
        with open(os.path.join(d, "status")) as f:
            self.assertIn("state=failed", f.read())

    # Issue 16 review 2: what root installs lives in KEEP_DIR, which must be root's alone (an
    # installer's `install -D` made it 0755).
    def request_in_agent_dir(self):
        d = self.agent_dir()
        with open(os.path.join(d, "request"), "w") as f:
            f.write("id=u1\n")
        os.chown(os.path.join(d, "request"), self.nobody.pw_uid, self.nobody.pw_gid)
        return d

    def test_the_keep_directory_is_made_or_put_right_root_only(self):
        d = self.request_in_agent_dir()
        self.run_helper(d)
        self.assertEqual(stat.S_IMODE(os.stat(self.keep).st_mode), 0o700)
        shutil.rmtree(self.keep)
        os.mkdir(self.keep, 0o755)
        os.chmod(self.keep, 0o755)
        self.request_in_agent_dir_again(d)
        self.run_helper(d)
        self.assertEqual(stat.S_IMODE(os.stat(self.keep).st_mode), 0o700)
        self.assertEqual(os.stat(self.keep).st_uid, 0)

    def request_in_agent_dir_again(self, d):
        with open(os.path.join(d, "request"), "w") as f:
            f.write("id=u1\n")
        os.chown(os.path.join(d, "request"), self.nobody.pw_uid, self.nobody.pw_gid)

    def test_a_keep_directory_that_is_not_roots_or_is_a_link_refuses(self):
        d = self.request_in_agent_dir()
        os.mkdir(self.keep, 0o700)
        os.chown(self.keep, self.nobody.pw_uid, self.nobody.pw_gid)
        result = self.run_helper(d)
        self.assertNotEqual(result.returncode, 0, result.stderr)
        self.assertIn("not root's", result.stderr)
        self.assertEqual(os.listdir(self.keep), [], "root wrote into a directory the agent's user owns")
        os.rmdir(self.keep)
        os.symlink(self.rootdir, self.keep)
        result = self.run_helper(d)
        self.assertNotEqual(result.returncode, 0, result.stderr)
        self.assertIn("symbolic link", result.stderr)
        self.assertEqual(sorted(os.listdir(self.rootdir)), ["secret", "status"])
        self.assertEqual(stat.S_IMODE(os.stat(self.rootdir).st_mode), 0o755)

    # Issue 16 review 2: the agent's uid came from `stat` of its own directory, so a directory the
    # agent swapped for root's (or deleted at the right moment) made the "as the agent" steps root's.
    def test_the_agents_account_comes_from_its_name_not_from_its_directory(self):
        request = os.path.join(self.rootdir, "request")
        with open(request, "w") as f:
            f.write("id=bad id\n")
        os.chmod(request, 0o644)
        result = self.run_helper(self.rootdir)  # root's directory where the agent's should be
        self.assertNotEqual(result.returncode, 0, result.stderr)
        self.assertTrue(os.path.exists(request), "root removed the request in root's directory")
        self.assertFalse(os.path.exists(os.path.join(self.rootdir, "status.tmp")), "root wrote there")
        with open(self.victim) as f:  # rootdir/status: where the helper's status would go
            self.assertEqual(f.read(), "precious\n")

    def test_an_agent_account_that_is_root_or_missing_refuses_and_does_nothing(self):
        for user in ("root", "no-such-edgewire-user"):
            d = os.path.join(self.work, "update-" + user)
            os.mkdir(d, 0o755)
            os.chown(d, self.nobody.pw_uid, self.nobody.pw_gid)
            request = os.path.join(d, "request")
            with open(request, "w") as f:
                f.write("id=u1\n")
            os.chown(request, self.nobody.pw_uid, self.nobody.pw_gid)
            result = self.run_helper(d, EW_AGENT_USER=user)
            self.assertNotEqual(result.returncode, 0, result.stderr)
            self.assertIn("refused", result.stderr)
            self.assertTrue(os.path.exists(request), f"{user}: the request was taken")
            self.assertFalse(os.path.exists(os.path.join(d, "status")), f"{user}: a status was written")
            self.assertFalse(os.path.exists(self.keep), f"{user}: the keep directory was made")

    # Issue 16 review 2: a process of the agent's user that holds a descriptor root opened can be
    # attached to by any other process of that user (/proc/PID/mem, process_vm_writev), and made to
    # write through it: root's copy of the package after its signature was checked, or the helper's
    # journal lines. A staged FIFO keeps the agent's side of each copy blocked while its descriptors
    # are looked at.
    def agent_side(self, helper_pid):
        """The helper's descendants that run as the agent's user: {pid: {fd: what it refers to}}."""
        children = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
        found, todo = {}, [helper_pid]
        while todo:
            for pid in children.get(todo.pop(), []):
                todo.append(pid)
                try:
                    if os.stat(f"/proc/{pid}").st_uid != self.nobody.pw_uid:
                        continue
                    found[pid] = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
                except OSError:
                    pass
        return found

    def start_helper(self, update_dir, **env_overrides):
        env = dict(os.environ, EW_UPDATE_DIR=update_dir, EW_UPDATE_KEEP_DIR=self.keep,
                   EW_UPDATE_KEYS_DIR=os.path.join(self.work, "no-keys"),
                   EW_DPKG="false", EW_DPKG_QUERY="true", EW_RESTART_AGENT="true", EW_UPDATE_POLL="1",
                   EW_AGENT_USER="nobody")
        env.update(env_overrides)
        return subprocess.Popen(["sh", HELPER], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def staged_update(self, fifo):
        """An update directory with request, u1.deb and u1.sig, where `fifo` is a FIFO instead."""
        d = self.agent_dir()
        package = b"not really a package"
        files = {"request": f"id=u1\nsha256={hashlib.sha256(package).hexdigest()}\nsize={len(package)}\n"
                            "version=0.1.0-2\ndeadline=60\n".encode(),
                 "u1.deb": package, "u1.sig": b"s" * 64}
        for name, data in files.items():
            path = os.path.join(d, name)
            if name == fifo:
                os.mkfifo(path, 0o600)
            else:
                with open(path, "wb") as f:
                    f.write(data)
            os.chown(path, self.nobody.pw_uid, self.nobody.pw_gid)
        return d, os.path.join(d, fifo), files[fifo]

    def assert_agent_side_holds_nothing_of_roots(self, fifo):
        d, path, data = self.staged_update(fifo)
        helper = self.start_helper(d)
        try:
            deadline = time.monotonic() + 20
            while True:
                side = self.agent_side(helper.pid)
                if any(path.encode() in cmdline(pid) for pid in side):
                    break
                self.assertIsNone(helper.poll(), "the helper ended without reading the FIFO")
                self.assertLess(time.monotonic(), deadline, "no process of the agent's user reads the FIFO")
                time.sleep(0.05)
            # The helper's stdout and stderr (its journal stream on a board): the pipes made here.
            helpers_own = {f"pipe:[{os.fstat(pipe.fileno()).st_ino}]" for pipe in (helper.stdout, helper.stderr)}
            for pid, fds in side.items():
                for fd, target in fds.items():
                    self.assertFalse(target.startswith(self.keep + "/") or target == self.keep,
                                     f"agent-user process {pid} holds fd {fd} on root's {target}")
                    self.assertNotIn(target, helpers_own, f"agent-user process {pid} holds the helper's stdout/stderr")
                self.assertEqual(fds.get(2), "/dev/null", f"agent-user process {pid}'s stderr")
                with open(f"/proc/{pid}/status") as f:
                    self.assertIn("NoNewPrivs:\t1", f.read(), f"agent-user process {pid} may gain privileges")
        finally:
            with open(path, "wb") as f:  # lets the blocked reader finish
                f.write(data)
            helper.communicate(timeout=60)

    def test_the_agent_side_of_the_request_copy_holds_no_descriptor_of_roots(self):
        self.assert_agent_side_holds_nothing_of_roots("request")

    def test_the_agent_side_of_the_package_copy_holds_no_descriptor_of_roots(self):
        self.assert_agent_side_holds_nothing_of_roots("u1.deb")

    def test_the_agent_side_of_the_signature_copy_holds_no_descriptor_of_roots(self):
        self.assert_agent_side_holds_nothing_of_roots("u1.sig")

    def test_an_agent_side_reader_the_agent_stops_does_not_hold_the_helper(self):
        # The agent's user may SIGSTOP its own processes; root's timeout kills them anyway.
        d, path, data = self.staged_update("request")
        helper = self.start_helper(d)
        try:
            deadline = time.monotonic() + 20
            while True:
                readers = [pid for pid in self.agent_side(helper.pid) if path.encode() in cmdline(pid)]
                if readers:
                    break
                self.assertIsNone(helper.poll(), "the helper ended without reading the FIFO")
                self.assertLess(time.monotonic(), deadline, "no process of the agent's user reads the FIFO")
                time.sleep(0.05)
            for pid in readers:
                os.kill(pid, signal.SIGSTOP)
            started = time.monotonic()
            helper.communicate(timeout=60)
            # The request's copy is bounded at 10 s (+ root's side): not until someone resumes it.
            self.assertLess(time.monotonic() - started, 40, "the helper waited on a stopped agent process")
            self.assertNotEqual(helper.returncode, 0)
        finally:
            if helper.poll() is None:
                helper.kill()
                helper.communicate()

    def test_an_endless_staged_package_is_refused_without_filling_the_disk(self):
        cap = 64 << 20
        d, path, _ = self.staged_update("u1.deb")
        written = [0]

        def feed():  # as much as the helper takes, and 16 MiB more than it should
            chunk = b"\0" * (1 << 20)
            try:
                with open(path, "wb") as f:
                    while written[0] < cap + (16 << 20):
                        f.write(chunk)
                        written[0] += len(chunk)
            except BrokenPipeError:
                pass
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        result = self.run_helper(d)
        feeder.join(timeout=30)
        self.assertNotEqual(result.returncode, 0, result.stderr)
        with open(os.path.join(d, "status")) as f:
            status = f.read()
        self.assertIn("state=failed", status)
        self.assertIn("larger than", status)
        self.assertLess(written[0], cap + (16 << 20), "the helper read on past the cap")
        for name in os.listdir(self.keep):
            self.assertLessEqual(os.path.getsize(os.path.join(self.keep, name)), cap + 1, name)
        self.assertFalse(os.path.exists(os.path.join(self.keep, "new.deb")), "the oversized copy was left")

    def test_the_cap_is_the_conductors(self):
        with open(os.path.join(ROOT, "common/contract/update.hpp")) as f:
            self.assertIn("kMaxPackageBytes = 64ull << 20;", f.read())
        with open(HELPER) as f:
            self.assertIn(f"MAX_PACKAGE_BYTES={64 << 20}\n", f.read())


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def run(*args):
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{args}: {result.stderr}"
    return result.stdout


@unittest.skipUnless(os.geteuid() == 0, "needs root: the helper's privileges are what is tested")
class SignedUpdateTest(unittest.TestCase):
    """The helper installs nothing that the board's trusted keys did not sign."""

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="ew-update-signed-")
        os.chmod(self.work, 0o755)
        self.nobody = pwd.getpwnam("nobody")
        self.keep = os.path.join(self.work, "keep")
        self.keys = os.path.join(self.work, "update-keys")
        os.mkdir(self.keys, 0o755)
        self.operator_key = self.keypair("operator")
        self.other_key = self.keypair("other")
        shutil.copy(self.operator_key + ".pem", os.path.join(self.keys, "operator.pem"))
        os.chmod(os.path.join(self.keys, "operator.pem"), 0o644)
        # The board: a dpkg root with edgewire-agent 0.1.0-1 installed, its .deb kept for rollbacks.
        self.root = os.path.join(self.work, "root")
        admindir = os.path.join(self.root, "var/lib/dpkg")
        for d in ("info", "updates", "triggers"):
            os.makedirs(os.path.join(admindir, d))
        for f in ("status", "available"):
            open(os.path.join(admindir, f), "w").close()
        self.old = self.make_deb("0.1.0-1")
        run("dpkg", f"--root={self.root}", "--force-depends", "--force-bad-path", "-i", self.old)
        os.makedirs(self.keep, 0o700)
        shutil.copy(self.old, os.path.join(self.keep, "current.deb"))
        self.update = os.path.join(self.work, "update")
        os.mkdir(self.update, 0o755)
        os.chown(self.update, self.nobody.pw_uid, self.nobody.pw_gid)

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def keypair(self, name):
        base = os.path.join(self.work, name)
        run("openssl", "genpkey", "-algorithm", "ed25519", "-out", base + ".key")
        run("openssl", "pkey", "-in", base + ".key", "-pubout", "-out", base + ".pem")
        return base

    def make_deb(self, version):
        tree = os.path.join(self.work, f"tree-{version}")
        os.makedirs(os.path.join(tree, "DEBIAN"))
        os.makedirs(os.path.join(tree, "usr/share/edgewire-test"))
        with open(os.path.join(tree, "DEBIAN/control"), "w") as f:
            f.write(f"Package: edgewire-agent\nVersion: {version}\nArchitecture: all\n"
                    "Maintainer: Edgewire tests <t@example.com>\nDescription: update helper test package\n")
        with open(os.path.join(tree, "usr/share/edgewire-test/version"), "w") as f:
            f.write(version + "\n")
        out = os.path.join(self.work, f"edgewire-agent_{version}_all.deb")
        run("dpkg-deb", "--root-owner-group", "-b", tree, out)
        return out

    def sign(self, deb, key):
        sig = deb + ".sig"
        run("openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key + ".key", "-in", deb, "-out", sig)
        return sig

    def as_nobody(self, path):
        os.lchown(path, self.nobody.pw_uid, self.nobody.pw_gid)

    def stage(self, deb, sig, update_id="u1", size=None):
        """What the agent's user writes: the package, its signature and the request."""
        staged = os.path.join(self.update, update_id + ".deb")
        shutil.copy(deb, staged)
        self.as_nobody(staged)
        if sig is not None:
            shutil.copy(sig, os.path.join(self.update, update_id + ".sig"))
            self.as_nobody(os.path.join(self.update, update_id + ".sig"))
        with open(deb, "rb") as f:
            sha256 = hashlib.sha256(f.read()).hexdigest()
        request = os.path.join(self.update, "request")
        with open(request, "w") as f:
            size = os.path.getsize(deb) if size is None else size
            f.write(f"id={update_id}\nsha256={sha256}\n" + ("" if size == "" else f"size={size}\n") +
                    "version=0.1.0-2\ndeadline=10\n")
        self.as_nobody(request)

    def helper(self, background=False, **env_overrides):
        marker = os.path.join(self.update, "healthy")
        env = dict(os.environ, EW_UPDATE_DIR=self.update, EW_UPDATE_KEEP_DIR=self.keep, EW_UPDATE_KEYS_DIR=self.keys,
                   EW_DPKG=f"dpkg --root={self.root} --force-depends --force-bad-path",
                   EW_DPKG_QUERY=f"dpkg-query --root={self.root}",
                   # The new agent joins at once: its health marker, as the agent's own file.
                   EW_RESTART_AGENT=f"printf 'u1\\n' > {marker} && chmod 644 {marker}",
                   EW_STOP_AGENT="true",
                   EW_UPDATE_POLL="1", EW_AGENT_USER="nobody",
                   EW_UPDATE_ALLOW_DOWNGRADE=os.path.join(self.work, "etc", "update-allow-downgrade"))
        env.update(env_overrides)
        if background:
            return subprocess.Popen(["sh", HELPER], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, start_new_session=True)
        return subprocess.run(["sh", HELPER], env=env, capture_output=True, text=True, timeout=60)

    def installed(self):
        return run("dpkg-query", f"--root={self.root}", "-W", "-f=${Version}", "edgewire-agent")

    def status(self):
        with open(os.path.join(self.update, "status")) as f:
            return dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)

    def assert_refused(self, result, words, installed="0.1.0-1"):
        self.assertNotEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.installed(), installed, "a refused package was installed")
        with open(os.path.join(self.root, "usr/share/edgewire-test/version")) as f:
            self.assertEqual(f.read(), installed + "\n")
        status = self.status()
        self.assertEqual(status["state"], "failed", status)
        self.assertIn(words, status["message"])
        self.assertIn("refused", status["message"])
        self.assertEqual(os.stat(os.path.join(self.update, "status")).st_uid, self.nobody.pw_uid)
        self.assert_cleaned_up()

    def assert_cleaned_up(self):
        """Every way out leaves no copy of the update's request, package or signature behind."""
        left = set(os.listdir(self.keep)) & {"new.deb", "new.sig", "request"}
        self.assertFalse(left, f"left in the keep directory: {left}")
        staged = [n for n in os.listdir(self.update) if n.endswith((".deb", ".sig")) or n == "request"]
        self.assertFalse(staged, f"left in the agent's directory: {staged}")

    def test_a_package_signed_by_a_trusted_key_installs(self):
        new = self.make_deb("0.1.0-2")
        self.stage(new, self.sign(new, self.operator_key))
        result = self.helper()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("signed by operator.pem", result.stderr)
        self.assertEqual(self.installed(), "0.1.0-2")
        self.assertEqual(self.status()["state"], "online")
        self.assertFalse(os.path.exists(os.path.join(self.update, "u1.sig")), "the staged signature was left")
        self.assert_cleaned_up()
        with open(os.path.join(self.keep, "highest-version")) as f:
            self.assertEqual(f.read(), "0.1.0-2\n", "the newest version run here is recorded")

    def test_an_unsigned_package_is_refused(self):
        new = self.make_deb("0.1.0-2")
        self.stage(new, None)
        self.assert_refused(self.helper(), "not signed")

    def test_a_package_signed_by_another_key_is_refused(self):
        new = self.make_deb("0.1.0-2")
        self.stage(new, self.sign(new, self.other_key))
        self.assert_refused(self.helper(), "does not verify")

    def test_a_tampered_package_is_refused_even_with_a_matching_sha256(self):
        # The agent's user writes the request too: the sha256 there is the tampered bytes'.
        new = self.make_deb("0.1.0-2")
        sig = self.sign(new, self.operator_key)
        with open(new, "ab") as f:
            f.write(b"\0" * 16)  # ar tolerates trailing bytes: still a valid package to dpkg-deb
        self.stage(new, sig)
        self.assert_refused(self.helper(), "does not verify")

    def test_a_signature_that_is_not_64_bytes_is_refused(self):
        new = self.make_deb("0.1.0-2")
        sig = os.path.join(self.work, "short.sig")
        with open(sig, "wb") as f:
            f.write(b"x" * 10)
        self.stage(new, sig)
        self.assert_refused(self.helper(), "64 bytes")

    def test_no_key_configured_refuses(self):
        os.remove(os.path.join(self.keys, "operator.pem"))
        new = self.make_deb("0.1.0-2")
        self.stage(new, self.sign(new, self.operator_key))
        self.assert_refused(self.helper(), "no update signing key")
        shutil.rmtree(self.keys)
        self.stage(new, self.sign(new, self.operator_key))
        self.assert_refused(self.helper(), "no update signing key")

    def test_a_key_directory_the_agent_can_write_refuses(self):
        new = self.make_deb("0.1.0-2")
        # The agent's user owns the directory: it could have put its own key there.
        os.chown(self.keys, self.nobody.pw_uid, self.nobody.pw_gid)
        self.stage(new, self.sign(new, self.operator_key))
        self.assert_refused(self.helper(), "not root's or is writable")
        # Root's, but writable by others.
        os.chown(self.keys, 0, 0)
        os.chmod(self.keys, 0o777)
        self.stage(new, self.sign(new, self.operator_key))
        self.assert_refused(self.helper(), "not root's or is writable")

    def test_a_key_file_the_agent_can_write_refuses(self):
        new = self.make_deb("0.1.0-2")
        key = os.path.join(self.keys, "operator.pem")
        os.chown(key, self.nobody.pw_uid, self.nobody.pw_gid)
        self.stage(new, self.sign(new, self.operator_key))
        self.assert_refused(self.helper(), "not root's or is writable")
        os.chown(key, 0, 0)
        os.chmod(key, 0o666)
        self.stage(new, self.sign(new, self.operator_key))
        self.assert_refused(self.helper(), "not root's or is writable")

    def test_a_symlinked_key_refuses(self):
        # Even to the right key: a link may be repointed by whoever owns its target's directory.
        os.remove(os.path.join(self.keys, "operator.pem"))
        os.symlink(self.operator_key + ".pem", os.path.join(self.keys, "operator.pem"))
        new = self.make_deb("0.1.0-2")
        self.stage(new, self.sign(new, self.operator_key))
        self.assert_refused(self.helper(), "symbolic link")

    def test_a_key_that_is_not_a_regular_file_refuses(self):
        os.mkdir(os.path.join(self.keys, "dir.pem"))
        new = self.make_deb("0.1.0-2")
        self.stage(new, self.sign(new, self.operator_key))
        self.assert_refused(self.helper(), "not a regular file")

    def test_a_signature_linked_to_a_root_only_file_is_not_read(self):
        new = self.make_deb("0.1.0-2")
        secret = os.path.join(self.work, "root-only.sig")
        shutil.copy(self.sign(new, self.operator_key), secret)
        os.chmod(secret, 0o600)
        self.stage(new, None)
        link = os.path.join(self.update, "u1.sig")
        os.symlink(secret, link)
        self.as_nobody(link)
        # Root could read the (valid) signature through the link; the agent's user cannot.
        self.assert_refused(self.helper(), "not signed")

    # Issue 16 review 2: every package ever signed stays signed, so an old one (with a known hole)
    # could be sent again. Only newer versions install, unless root allows a downgrade.
    def test_the_same_version_again_is_refused(self):
        same = self.old
        self.stage(same, self.sign(same, self.operator_key))
        self.assert_refused(self.helper(), "is not newer than the installed 0.1.0-1")

    def test_an_older_signed_package_is_refused(self):
        old = self.make_deb("0.0.9-1")
        self.stage(old, self.sign(old, self.operator_key))
        self.assert_refused(self.helper(), "is not newer")

    def test_a_version_older_than_the_newest_run_here_is_refused(self):
        # 0.3.0-1 ran here once (root's record), then the board was put back on 0.1.0-1 by hand:
        # 0.2.0-1 is newer than what is installed but older than what ran.
        with open(os.path.join(self.keep, "highest-version"), "w") as f:
            f.write("0.3.0-1\n")
        between = self.make_deb("0.2.0-1")
        self.stage(between, self.sign(between, self.operator_key))
        self.assert_refused(self.helper(), "the newest this board has run (0.3.0-1)")

    def test_roots_override_allows_a_downgrade_to_that_version_only(self):
        old = self.make_deb("0.0.9-1")
        etc = os.path.join(self.work, "etc")
        os.mkdir(etc, 0o755)
        allow = os.path.join(etc, "update-allow-downgrade")
        with open(allow, "w") as f:
            f.write("0.0.8-1\n")
        self.stage(old, self.sign(old, self.operator_key))
        self.assert_refused(self.helper(), "is not newer")
        # Writable by the agent's user: not root's word.
        with open(allow, "w") as f:
            f.write("0.0.9-1\n")
        os.chown(allow, self.nobody.pw_uid, self.nobody.pw_gid)
        self.stage(old, self.sign(old, self.operator_key))
        self.assert_refused(self.helper(), "is not newer")
        os.chown(allow, 0, 0)
        os.chmod(allow, 0o644)
        self.stage(old, self.sign(old, self.operator_key))
        result = self.helper()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("allowed by", result.stderr)
        self.assertEqual(self.installed(), "0.0.9-1")
        self.assertEqual(self.status()["state"], "online")
        # Used up: the same old package is not allowed again should root forget the file.
        self.assertFalse(os.path.exists(allow), "the downgrade allowance outlived its update")


    # Issue 16 review 2: the request names the package's size; no more is read, and never more
    # than the conductor takes (64 MiB).
    def test_a_request_without_a_size_or_over_the_cap_is_refused(self):
        new = self.make_deb("0.1.0-2")
        sig = self.sign(new, self.operator_key)
        self.stage(new, sig, size="")
        self.assert_refused(self.helper(), "size is not a number")
        self.stage(new, sig, size=(64 << 20) + 1)
        self.assert_refused(self.helper(), "size must be from 1 to 67108864")

    def test_numbers_with_a_leading_zero_are_refused(self):
        # The shell's arithmetic reads them as octal (0999 is not a number to it, 0100 is 64).
        new = self.make_deb("0.1.0-2")
        sig = self.sign(new, self.operator_key)
        self.stage(new, sig, size="0" + str(os.path.getsize(new)))
        self.assert_refused(self.helper(), "size is not a number")

    def test_a_package_larger_or_smaller_than_its_size_is_refused(self):
        new = self.make_deb("0.1.0-2")
        sig = self.sign(new, self.operator_key)
        self.stage(new, sig, size=os.path.getsize(new) - 1)
        self.assert_refused(self.helper(), "larger than the")
        self.stage(new, sig, size=os.path.getsize(new) + 1)
        self.assert_refused(self.helper(), "not the")

    # Issue 16 review 2: the old agent, still running between the install and the restart, could
    # write the health marker for an update it saw awaiting, and the helper took that for the new
    # agent joining. Here the old agent does exactly that whenever the status says awaiting, and
    # the new one never joins: the update must be rolled back.
    def test_a_health_marker_from_the_old_agent_does_not_count(self):
        old_agent = subprocess.Popen(
            ["setpriv", f"--reuid={self.nobody.pw_uid}", f"--regid={self.nobody.pw_gid}", "--clear-groups", "--",
             "sh", "-c", 'while :; do grep -qs "^state=awaiting" "$1/status" && printf "u1\\n" >"$1/healthy"; '
             'sleep 0.05; done', "sh", self.update])
        reaper = threading.Thread(target=old_agent.wait, daemon=True)
        reaper.start()
        try:
            new = self.make_deb("0.1.0-2")
            self.stage(new, self.sign(new, self.operator_key))
            # systemctl stop: returns once the old agent is gone; the new one never joins.
            result = self.helper(EW_STOP_AGENT=f"kill {old_agent.pid} 2>/dev/null; "
                                               f"while [ -d /proc/{old_agent.pid}/fd ]; do sleep 0.05; done",
                                 EW_RESTART_AGENT="true")
            self.assertEqual(result.returncode, 1, result.stderr)
            self.assertEqual(self.status()["state"], "rolled-back", result.stderr)
            self.assertEqual(self.installed(), "0.1.0-1")
        finally:
            old_agent.kill()

    def wait_for_state(self, state, helper):
        deadline = time.monotonic() + 30
        while (self.status() if os.path.exists(os.path.join(self.update, "status")) else {}).get("state") != state:
            if helper.poll() is not None:
                self.fail(f"the helper ended before {state}: {helper.communicate()[1]}")
            self.assertLess(time.monotonic(), deadline, f"no state {state}")
            time.sleep(0.05)

    def interrupted_update(self):
        """0.1.0-2 installed, its agent not joined yet, and the helper killed (as by a reboot)."""
        new = self.make_deb("0.1.0-2")
        self.stage(new, self.sign(new, self.operator_key))
        helper = self.helper(background=True, EW_RESTART_AGENT="true")
        self.wait_for_state("awaiting", helper)
        os.killpg(helper.pid, signal.SIGKILL)
        helper.communicate(timeout=10)
        self.assertEqual(self.installed(), "0.1.0-2")
        self.assertTrue(os.path.exists(os.path.join(self.keep, "pending")), "no record of the update in progress")

    def test_an_interrupted_update_whose_agent_joins_is_committed_on_the_next_run(self):
        self.interrupted_update()
        result = self.helper()  # no request: what starts it is the pending record (the path unit)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("resuming", result.stderr)
        self.assertEqual(self.status()["state"], "online")
        self.assertEqual(self.installed(), "0.1.0-2")
        version = run("dpkg-deb", "-f", os.path.join(self.keep, "current.deb"), "Version").strip()
        self.assertEqual(version, "0.1.0-2", "the package to roll back to is the one that joined")
        self.assertFalse(os.path.exists(os.path.join(self.keep, "pending")))

    def test_a_commit_cut_short_is_finished_not_rolled_back(self):
        # Killed (or the power cut) after current.deb became the new package but before the record
        # went: resuming must keep 0.1.0-2, not "roll back" to it and call that 0.1.0-1.
        self.interrupted_update()
        os.replace(os.path.join(self.keep, "pending.deb"), os.path.join(self.keep, "current.deb"))
        with open(os.path.join(self.keep, "pending")) as f:
            record = f.read().replace("phase=awaiting", "phase=committing")
        with open(os.path.join(self.keep, "pending"), "w") as f:
            f.write(record)
        result = self.helper(EW_RESTART_AGENT="true")  # the new agent would not even need to join again
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.status()["state"], "online", result.stderr)
        self.assertEqual(self.installed(), "0.1.0-2")
        with open(os.path.join(self.keep, "highest-version")) as f:
            self.assertEqual(f.read(), "0.1.0-2\n")
        self.assertFalse(os.path.exists(os.path.join(self.keep, "pending")))

    def test_an_interrupted_update_whose_agent_does_not_join_is_rolled_back_on_the_next_run(self):
        self.interrupted_update()
        result = self.helper(EW_RESTART_AGENT="true")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(self.status()["state"], "rolled-back")
        self.assertIn("interrupted", self.status()["message"])
        self.assertEqual(self.installed(), "0.1.0-1")
        self.assertFalse(os.path.exists(os.path.join(self.keep, "pending")))
        self.assertFalse(os.path.exists(os.path.join(self.keep, "pending.deb")))

    def test_an_update_cut_short_while_installing_is_rolled_back(self):
        # The pending record of a helper killed in dpkg: whatever dpkg left, current.deb goes back.
        with open(os.path.join(self.keep, "pending"), "w") as f:
            f.write("id=u1\nphase=installing\nnew_version=0.1.0-2\nold_version=0.1.0-1\ndeadline=10\nuntil=0\n")
        result = self.helper()
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(self.status()["state"], "failed")
        self.assertIn("interrupted", self.status()["message"])
        self.assertEqual(self.installed(), "0.1.0-1")
        self.assertFalse(os.path.exists(os.path.join(self.keep, "pending")))

    def test_the_path_unit_starts_the_helper_for_an_interrupted_update_at_boot(self):
        with open(os.path.join(ROOT, "deploy/systemd/edgewire-agent-update.path")) as f:
            unit = f.read()
        self.assertIn("PathExists=/var/lib/edgewire/update/request\n", unit)
        self.assertIn("PathExists=/var/lib/edgewire-update/pending\n", unit)
        self.assertIn("WantedBy=paths.target", unit)

if __name__ == "__main__":
    unittest.main()
