"""The Debian packages (issue 16): builds edgewire-common, edgewire-agent and edgewire-conductor for
amd64 with deploy/scripts/package.sh (or takes them from $EW_DEB_DIR), checks their control data
and contents with dpkg-deb, runs lintian when it is installed, and installs, upgrades, removes and
purges them in a throwaway Debian 12 root made by mmdebstrap (never on this host)."""

import glob
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.environ.get("EW_BIN_DIR", os.path.join(ROOT, "build"))
VERSION = "0.1.0-1"

# lintian tags accepted, each with why. Everything else at error or warning level fails the test.
ACCEPTED_LINTIAN = {
    # CPack writes no Debian changelog; these packages are built from the repository, not the archive.
    "no-changelog",
    # A local build, not for the archive: no ITP bug, no Debian maintainer address.
    "initial-upload-closes-no-bugs",
    # The agent is linked statically (all but libc, cmake/agent_static.cmake) on purpose: RSS.
    "embedded-library",
    # CPack's generated control files activate the ldconfig trigger, which lintian finds unnecessary.
    "package-has-unnecessary-activation-of-ldconfig-trigger",
    # Units ship in /lib/systemd/system (bookworm's /usr-merge moratorium), which newer lintian flags.
    "systemd-service-file-outside-lib", "package-installs-into-obsolete-dir",
    # Our maintainer scripts are written by hand instead of debhelper's snippets.
    "maintainer-script-calls-systemctl", "maintainer-script-should-not-use-adduser-system-without-home",
    # Group gpio is shared with Raspberry Pi OS, which creates it itself.
    "maintainer-script-calls-addgroup",
    # Usage is in `--help`, docs/INSTALL-PI.md and docs/REST.md; no man pages yet.
    "no-manual-page",
}


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=kw.pop("timeout", 600), **kw)


class PackagesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.deb_dir = os.environ.get("EW_DEB_DIR")
        if not cls.deb_dir:
            cls.deb_dir = os.path.join(BUILD, "packages-test")
            # A build directory beside ./build, at the same depth: ccache (CCACHE_BASEDIR) then sees the
            # same relative paths and the package build is almost all cache hits.
            env = dict(os.environ, BUILD_DIR=os.path.join(ROOT, "build-deb-test"), OUT_DIR=cls.deb_dir, JOBS="2")
            built = run("bash", os.path.join(ROOT, "deploy/scripts/package.sh"), env=env, timeout=3000)
            assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        cls.debs = {p: os.path.join(cls.deb_dir, f"{p}_{VERSION}_amd64.deb")
                    for p in ("edgewire-common", "edgewire-agent", "edgewire-conductor")}
        for path in cls.debs.values():
            assert os.path.exists(path), f"{path} was not built: {os.listdir(cls.deb_dir)}"

    def field(self, package, name):
        out = run("dpkg-deb", "-f", self.debs[package], name)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout.strip()

    def contents(self, package):
        out = run("dpkg-deb", "-c", self.debs[package])
        self.assertEqual(out.returncode, 0, out.stderr)
        return {line.split()[-1] if " -> " not in line else line.split()[-3]: line.split()[0]
                for line in out.stdout.splitlines()}

    def test_control_fields_and_dependencies(self):
        for package in self.debs:
            self.assertEqual(self.field(package, "Package"), package)
            self.assertEqual(self.field(package, "Version"), VERSION)
            self.assertEqual(self.field(package, "Architecture"), "amd64")
        agent = self.field("edgewire-agent", "Depends")
        # dpkg-shlibdeps: the static agent needs glibc only; plus what it runs, not links.
        self.assertRegex(agent, r"libc6 \(>= 2\.\d+\)")
        self.assertIn(f"edgewire-common (= {VERSION})", agent)
        self.assertIn("openssl", agent, "the update helper verifies signatures with the openssl CLI")
        # systemd's notify protocol is spoken directly (device-agent/systemd/notifier.cpp).
        self.assertNotIn("libsystemd", agent)
        for forbidden in ("libstdc++", "libboost", "libspdlog", "libprotobuf", "libarchive"):
            self.assertNotIn(forbidden, agent, "the agent links these statically")
        self.assertIn("crun | runc | bubblewrap", self.field("edgewire-agent", "Recommends"))
        conductor = self.field("edgewire-conductor", "Depends")
        for lib in ("libc6", "libstdc++6", "libsqlite3-0", "libssl3", "libprotobuf32", f"edgewire-common (= {VERSION})"):
            self.assertIn(lib, conductor)
        info = run("dpkg-deb", "-I", self.debs["edgewire-agent"]).stdout
        for script in ("postinst", "prerm", "postrm", "conffiles"):
            self.assertIn(f" {script}", info)

    def test_contents(self):
        agent = self.contents("edgewire-agent")
        for path in ("./usr/bin/edgewire-agent", "./lib/systemd/system/edgewire-agent.service",
                     "./etc/edgewire/agent.toml", "./usr/lib/edgewire/edgewire-agent-update",
                     "./lib/systemd/system/edgewire-agent-update.path",
                     "./lib/systemd/system/edgewire-agent-update.service"):
            self.assertIn(path, agent)
        self.assertEqual(agent["./usr/lib/edgewire/edgewire-agent-update"], "-rwxr-xr-x")
        self.assertEqual(agent.get("./etc/edgewire/update-keys/"), "drwxr-xr-x", "the trusted update keys' directory")
        self.assertEqual(agent["./usr/bin/edgewire-agent"], "-rwxr-xr-x")
        self.assertEqual(agent["./etc/edgewire/agent.toml"], "-rw-r--r--")
        conductor = self.contents("edgewire-conductor")
        for path in ("./usr/bin/edgewire-conductor", "./usr/bin/edgewire",
                     "./lib/systemd/system/edgewire-conductor.service", "./etc/edgewire/conductor.toml"):
            self.assertIn(path, conductor)
        common = self.contents("edgewire-common")
        for path in ("./usr/lib/sysusers.d/edgewire.conf", "./usr/lib/edgewire/gpio/bin/gpio",
                     "./usr/lib/edgewire/gpio/python/edgewire_gpio.py", "./usr/lib/edgewire/gpio/include/edgewire_gpio.h"):
            self.assertIn(path, common)
        # No file in two packages (dpkg would refuse the second).
        seen = {}
        for package in self.debs:
            for path, mode in self.contents(package).items():
                if not mode.startswith("d"):
                    self.assertNotIn(path, seen, f"{path} in {package} and {seen.get(path)}")
                    seen[path] = package
        # Stripped: debug info stays in the build tree.
        with tempfile.TemporaryDirectory() as tmp:
            run("dpkg-deb", "-x", self.debs["edgewire-agent"], tmp)
            described = run("file", os.path.join(tmp, "usr/bin/edgewire-agent")).stdout
            self.assertIn("stripped", described)
            self.assertNotIn("not stripped", described)
        # The packaged conductor finds the GPIO clients where the package puts them.
        with open(os.path.join(ROOT, "containers/gpio/gpio_sandbox.cpp")) as f:
            self.assertIn("EW_GPIO_CLIENTS_DIR", f.read())

    def test_lintian(self):
        lintian = shutil.which("lintian")
        if lintian is None:
            self.skipTest("lintian is not installed (apt-get install lintian)")
        out = run(lintian, "--no-tag-display-limit", *self.debs.values(), timeout=900)
        problems = []
        for line in out.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] in ("E:", "W:") and parts[2] not in ACCEPTED_LINTIAN:
                problems.append(line)
        self.assertEqual(problems, [], out.stdout)

    def test_install_upgrade_remove_purge_in_a_throwaway_root(self):
        mmdebstrap = shutil.which("mmdebstrap")
        if mmdebstrap is None:
            self.skipTest("mmdebstrap is not installed (apt-get install mmdebstrap)")
        with tempfile.TemporaryDirectory(prefix="ew-debroot-") as tmp:
            # The upgrade: the same agent as version 0.1.0-2.
            unpacked = os.path.join(tmp, "unpacked")
            self.assertEqual(run("dpkg-deb", "-R", self.debs["edgewire-agent"], unpacked).returncode, 0)
            control = os.path.join(unpacked, "DEBIAN/control")
            with open(control) as f:
                text = f.read().replace(f"Version: {VERSION}", "Version: 0.1.0-2")
            with open(control, "w") as f:
                f.write(text)
            os.makedirs(os.path.join(tmp, "upgrade"))
            built = run("dpkg-deb", "--root-owner-group", "-b", unpacked,
                        os.path.join(tmp, "upgrade/edgewire-agent_0.1.0-2_amd64.deb"))
            self.assertEqual(built.returncode, 0, built.stderr)
            target = os.path.join(tmp, "root")
            # apt inside mmdebstrap cannot install .deb files from outside the root, so the root gets
            # our packages' dependencies from the mirror and the packages themselves with dpkg -i
            # (tests/deploy/package_lifecycle.sh), which runs their maintainer scripts for real.
            deps = {"init-system-helpers"}
            for package in self.debs:
                for alternative in self.field(package, "Depends").split(","):
                    name = alternative.split("|")[0].split("(")[0].strip()
                    if name and not name.startswith("edgewire-"):
                        deps.add(name)
            os.makedirs(os.path.join(tmp, "debs"))
            for path in self.debs.values():
                shutil.copy(path, os.path.join(tmp, "debs"))
            result = run(mmdebstrap, "--variant=apt", "--mode=root" if os.geteuid() == 0 else "--mode=unshare",
                         "--include=" + ",".join(sorted(deps)),
                         "--customize-hook=mkdir -p \"$1/tmp/debs\"",
                         f"--customize-hook=copy-in {os.path.join(tmp, 'upgrade')} /tmp/debs",
                         f"--customize-hook=sync-in {os.path.join(tmp, 'debs')} /tmp/debs",
                         f"--customize-hook=copy-in {os.path.join(ROOT, 'tests/deploy/package_lifecycle.sh')} /tmp",
                         "--customize-hook=chroot \"$1\" sh -c 'dpkg -i /tmp/debs/edgewire-common_*.deb "
                         "/tmp/debs/edgewire-agent_*.deb /tmp/debs/edgewire-conductor_*.deb'",
                         "--customize-hook=chroot \"$1\" sh /tmp/package_lifecycle.sh",
                         "bookworm", target, timeout=1200)
            if result.returncode != 0 and "package lifecycle" not in result.stdout + result.stderr \
                    and ("Could not resolve" in result.stderr or "Failed to fetch" in result.stderr):
                self.skipTest("no Debian mirror reachable for the throwaway root: " + result.stderr[-300:])
            self.assertEqual(result.returncode, 0, result.stdout[-4000:] + result.stderr[-4000:])
            self.assertIn("package lifecycle: OK", result.stdout + result.stderr)
            shutil.rmtree(target, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
