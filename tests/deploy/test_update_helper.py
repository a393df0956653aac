"""The root helper of agent updates (deploy/scripts/edgewire-agent-update) against an agent that
plays tricks in its own update directory: the helper runs as root, the directory belongs to the
unprivileged agent, so every path there may be a symbolic link. Whatever the agent plants, root
must not write, chmod or remove anything the agent could not touch itself, nor copy root-only
files into its own. Runs the real script as root with a throwaway directory owned by `nobody`."""

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
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

    def run_helper(self, update_dir):
        env = dict(os.environ, EW_UPDATE_DIR=update_dir, EW_UPDATE_KEEP_DIR=self.keep,
                   EW_DPKG="false", EW_DPKG_QUERY="true", EW_RESTART_AGENT="true", EW_UPDATE_POLL="1")
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


if __name__ == "__main__":
    unittest.main()
