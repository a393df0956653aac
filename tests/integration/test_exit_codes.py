"""Issue 14, agent hygiene: `enrol` never overwrites a credential without --force and never spends
the one-time code when it cannot store the credential; an unknown host is named as such; and the
one exit-status convention (common/exit/exit_code.hpp, README → Exit statuses) holds for
edgewire-conductor, edgewire-agent and edgewire: 0 ok, 1 failure, 2 usage/config, 3 refused."""

import json
import os
import subprocess
import unittest

from harness import AGENT, CLI, CONDUCTOR, ConductorTestCase, Agent, cli

OK, FAILURE, USAGE, REFUSED = 0, 1, 2, 3


def run(*cmd, timeout=60):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)


class EnrolTest(ConductorTestCase):
    def test_enrol_refuses_to_overwrite_a_credential_without_force(self):
        first_id, first_code = self.conductor.create_board(self.token, "pi-first")
        agent = Agent(self.workdir, "pi-first")
        self.assertEqual(agent.enrol(self.conductor.url, first_code).returncode, OK)
        before = agent.read_credential()
        self.assertEqual(before["board_id"], first_id)

        second_id, second_code = self.conductor.create_board(self.token, "pi-second")
        again = agent.enrol(self.conductor.url, second_code)
        self.assertEqual(again.returncode, USAGE, again.stderr)
        self.assertIn(f"a credential exists already at {agent.credential}", again.stderr)
        self.assertIn("--force", again.stderr)
        self.assertEqual(agent.read_credential(), before, "the old credential is untouched")

        # The code was not spent: --force uses it now.
        forced = run(AGENT, "enrol", "--conductor", self.conductor.url, "--code", second_code,
                     "--credential", agent.credential, "--force")
        self.assertEqual(forced.returncode, OK, forced.stderr)
        self.assertEqual(agent.read_credential()["board_id"], second_id)

    def test_enrol_checks_the_credential_directory_before_spending_the_code(self):
        _, code = self.conductor.create_board(self.token, "pi-ro")
        ro = os.path.join(self.workdir, "ro")
        os.makedirs(ro)
        if os.geteuid() == 0:
            # root ignores mode bits: a read-only bind mount is a real read-only directory.
            subprocess.run(["mount", "--bind", ro, ro], check=True)
            subprocess.run(["mount", "-o", "remount,bind,ro", ro], check=True)
            self.addCleanup(subprocess.run, ["umount", ro])
        else:
            os.chmod(ro, 0o500)
        target = os.path.join(ro, "agent.json")
        refused = run(AGENT, "enrol", "--conductor", self.conductor.url, "--code", code, "--credential", target)
        self.assertEqual(refused.returncode, FAILURE, refused.stderr)
        self.assertIn("enrolment not attempted (the code is still unused)", refused.stderr)
        self.assertIn(f"cannot write in {ro}", refused.stderr)
        self.assertFalse(os.path.exists(target))

        elsewhere = os.path.join(self.workdir, "rw", "agent.json")
        done = run(AGENT, "enrol", "--conductor", self.conductor.url, "--code", code, "--credential", elsewhere)
        self.assertEqual(done.returncode, OK, done.stderr)  # the same code still works
        self.assertEqual(oct(os.stat(elsewhere).st_mode & 0o777), "0o600")
        self.assertEqual([f for f in os.listdir(os.path.dirname(elsewhere)) if "probe" in f], [])

    def test_unresolvable_host_is_named(self):
        out = run(AGENT, "enrol", "--conductor", "http://no-such-host.invalid:8080", "--code", "x", "--insecure",
                  "--credential", os.path.join(self.workdir, "x.json"))
        self.assertEqual(out.returncode, FAILURE, out.stderr)
        self.assertIn('cannot resolve the conductor\'s host name "no-such-host.invalid"', out.stderr)
        self.assertNotIn("Bad file descriptor", out.stderr)

    def test_run_names_an_unresolvable_host(self):
        agent = Agent(self.workdir, "pi-nodns")
        with open(agent.credential, "w") as f:
            json.dump({"board_id": "brd-x", "secret": "s", "realm": "edgewire",
                       "wamp_url": "ws://no-such-host.invalid:8080/ws", "tls": {"insecure": True}}, f)
        try:
            out = subprocess.run([AGENT, "run", "--config", agent.config], capture_output=True, text=True, timeout=4)
            text = out.stdout + out.stderr
        except subprocess.TimeoutExpired as e:  # it keeps trying, as it should
            text = (e.stdout or b"").decode() + (e.stderr or b"").decode()
        self.assertIn('cannot resolve the conductor\'s host name "no-such-host.invalid"', text)

    def test_refused_code_is_exit_3(self):
        agent = Agent(self.workdir, "pi-wrong")
        wrong = agent.enrol(self.conductor.url, "not-the-code")
        self.assertEqual(wrong.returncode, REFUSED, wrong.stderr)
        self.assertIn("enrolment refused", wrong.stderr)
        self.assertFalse(os.path.exists(agent.credential))


class ExitCodeTest(ConductorTestCase):
    def test_conductor_usage_and_config_errors_are_2(self):
        self.assertEqual(run(CONDUCTOR, "--no-such-option").returncode, USAGE)
        bad = os.path.join(self.workdir, "bad.toml")
        with open(bad, "w") as f:
            f.write("[server]\nport = \"eighty\"\n")
        out = run(CONDUCTOR, "--config", bad)
        self.assertEqual(out.returncode, USAGE, out.stderr)
        self.assertIn(bad, out.stderr)
        out = run(CONDUCTOR, "--config", os.path.join(self.workdir, "missing.toml"))
        self.assertEqual(out.returncode, USAGE, out.stderr)
        self.assertIn("missing.toml", out.stderr)
        out = run(CONDUCTOR, "--log-level", "loud", "--store", ":memory:", "--port", "0")
        self.assertEqual(out.returncode, USAGE, out.stderr)
        self.assertIn("--log-level", out.stderr)

    def test_conductor_runtime_failure_is_1(self):
        # The port is taken by the running conductor.
        out = run(CONDUCTOR, "--listen", "127.0.0.1", "--port", str(self.conductor.port), "--store",
                  os.path.join(self.workdir, "other.db"))
        self.assertEqual(out.returncode, FAILURE, out.stderr)

    def test_agent_usage_and_config_errors_are_2(self):
        self.assertEqual(run(AGENT).returncode, USAGE)
        self.assertEqual(run(AGENT, "enrol", "--conductor", "ftp://x", "--code", "c").returncode, USAGE)
        self.assertEqual(run(AGENT, "run", "--bogus").returncode, USAGE)
        bad = os.path.join(self.workdir, "agent.toml")
        with open(bad, "w") as f:
            f.write("[agent]\nreconnect_initial_ms = \"soon\"\n")
        out = run(AGENT, "run", "--config", bad)
        self.assertEqual(out.returncode, USAGE, out.stdout + out.stderr)
        self.assertIn(bad, out.stdout + out.stderr)
        missing = os.path.join(self.workdir, "none.json")
        out = run(AGENT, "run", "--config", os.devnull, "--credential", missing)
        self.assertEqual(out.returncode, USAGE, out.stdout + out.stderr)
        self.assertIn(f"no credential at {missing}", out.stdout + out.stderr)
        # Plain ws:// to another host without --insecure: a configuration error.
        agent = Agent(self.workdir, "pi-plain")
        _, code = self.conductor.create_board(self.token, "pi-plain")
        self.assertEqual(agent.enrol(self.conductor.url, code).returncode, OK)
        out = run(AGENT, "run", "--config", agent.config, "--conductor-url", "ws://192.0.2.1:8080/ws")
        self.assertEqual(out.returncode, USAGE, out.stdout + out.stderr)

    def test_cli_statuses(self):
        home = os.path.join(self.workdir, "home")
        self.assertEqual(run(CLI, "--no-such-flag").returncode, USAGE)
        self.assertEqual(cli(self.conductor, "board", "list", token=self.token, home=home).returncode, OK)
        refused = cli(self.conductor, "board", "list", token="not-a-token", home=home)
        self.assertEqual(refused.returncode, REFUSED, refused.stderr)
        missing = cli(self.conductor, "board", "show", "no-such-board", token=self.token, home=home)
        self.assertEqual(missing.returncode, FAILURE, missing.stderr)
        # A request the conductor rejects as invalid (400) is a usage error.
        invalid = cli(self.conductor, "board", "create", "bad name with spaces/and/slashes", token=self.token, home=home)
        self.assertEqual(invalid.returncode, USAGE, invalid.stderr)
        # Unreachable conductor: a runtime failure.
        env = dict(os.environ, EDGEWIRE_URL="http://127.0.0.1:1", EDGEWIRE_TOKEN=self.token, XDG_CONFIG_HOME=home)
        down = subprocess.run([CLI, "board", "list"], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(down.returncode, FAILURE, down.stderr)


if __name__ == "__main__":
    unittest.main()
