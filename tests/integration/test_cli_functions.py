"""The edgewire CLI's function and fleet commands against a real conductor on 127.0.0.1: fleets
by name, `fn create` refusing a bad package before uploading it, create/list/rm, invocations in
the cloud runtime with their exit statuses (0 ok, 2 failed, 3 timed out), `fn logs` of an async
invocation, and `fn deploy --wait` to a fleet with an offline board (pending until the timeout)."""

import json
import os
import shutil
import signal
import tempfile
import unittest

from harness import Agent, Conductor, cli, wait_until

DOUBLE_SH = """#!/bin/sh
read -r event
n=$(printf '%s' "$event" | sed -n 's/.*"n":[ ]*\\([0-9]*\\).*/\\1/p')
echo "{\\"double\\": $((n * 2))}"
"""


class CliFunctionsTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="ew-cli-fn-")
        self.home = os.path.join(self.workdir, "home")
        self.conductor = Conductor(self.workdir).start()
        self.token = self.conductor.login()
        self.agents = []

    def tearDown(self):
        if not getattr(self._outcome, "success", True):
            for path in sorted(os.listdir(self.workdir)):
                if path.endswith(".log"):
                    with open(os.path.join(self.workdir, path)) as f:
                        print(f"==== {path}\n{f.read()[-4000:]}")
        for agent in self.agents:
            agent.kill(signal.SIGTERM)
        self.conductor.stop()
        if not os.environ.get("EW_KEEP_TMP"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- helpers ----

    def ew(self, *args, stdin=None):
        return cli(self.conductor, *args, token=self.token, stdin=stdin, home=self.home)

    def ok(self, *args, stdin=None):
        out = self.ew(*args, stdin=stdin)
        self.assertEqual(out.returncode, 0, f"edgewire {' '.join(args)}:\n{out.stdout}{out.stderr}")
        return out

    def rest(self, method, path, body=None):
        return self.conductor.rest(method, path, body, token=self.token)

    def source(self, name, spec, main=DOUBLE_SH):
        """A function source directory with function.json (a dict, or raw text) and main.sh."""
        src = os.path.join(self.workdir, name)
        os.makedirs(src)
        with open(os.path.join(src, "function.json"), "w") as f:
            f.write(spec if isinstance(spec, str) else json.dumps(spec))
        with open(os.path.join(src, "main.sh"), "w") as f:
            f.write(main)
        os.chmod(os.path.join(src, "main.sh"), 0o755)
        return src

    def create(self, name, main=DOUBLE_SH, **extra):
        spec = {"name": name, "version": "1.0.0", "runtime": "sh", "entrypoint": "main.sh", "timeoutMs": 10000}
        spec.update(extra)
        return json.loads(self.ok("fn", "create", self.source(name, spec, main), "--json").stdout)

    def functions(self):
        status, body = self.rest("GET", "/v1/functions")
        self.assertEqual(status, 200, body)
        return body["functions"]

    # ---- fleets ----

    def test_fleet_commands_by_name(self):
        kitchen, _ = self.conductor.create_board(self.token, "kitchen")
        garage, _ = self.conductor.create_board(self.token, "garage")
        created = self.ok("fleet", "create", "greenhouse")
        self.assertIn("fleet greenhouse created: ", created.stdout)
        fleet_id = created.stdout.strip().rsplit(" ", 1)[1]

        self.ok("fleet", "add", "greenhouse", "kitchen", garage)
        status, fleet = self.rest("GET", f"/v1/fleets/{fleet_id}")
        self.assertEqual(status, 200, fleet)
        self.assertEqual(sorted(fleet["boardIds"]), sorted([kitchen, garage]))

        shown = self.ok("fleet", "show", "greenhouse")
        self.assertIn(f"{kitchen} (kitchen)", shown.stdout)
        self.assertIn(f"{garage} (garage)", shown.stdout)
        listing = self.ok("fleet", "ls").stdout.splitlines()
        self.assertEqual(listing[0].split(), ["ID", "NAME", "BOARDS"])
        self.assertEqual(next(l for l in listing if fleet_id in l).split(), [fleet_id, "greenhouse", "2"])
        self.assertEqual(json.loads(self.ok("--json", "fleet", "show", fleet_id).stdout)["id"], fleet_id)

        self.ok("fleet", "remove", fleet_id, "kitchen")
        self.assertEqual(self.rest("GET", f"/v1/fleets/{fleet_id}")[1]["boardIds"], [garage])

        missing = self.ew("fleet", "add", "greenhouse", "no-such-board")
        self.assertNotEqual(missing.returncode, 0)
        self.assertTrue(missing.stderr.startswith("error: "), missing.stderr)

        self.ok("fleet", "rm", "greenhouse")
        self.assertEqual(self.rest("GET", f"/v1/fleets/{fleet_id}")[0], 404)
        gone = self.ew("fleet", "show", "greenhouse")
        self.assertEqual(gone.returncode, 1)
        self.assertIn("no fleet with the id or name greenhouse", gone.stderr)

    # ---- fn create ----

    def test_fn_create_refuses_a_bad_package_locally(self):
        cases = [
            ("bad-runtime", {"name": "x", "version": "1", "runtime": "cobol", "entrypoint": "main.sh"}, "runtime"),
            ("zero-timeout", {"name": "x", "version": "1", "runtime": "sh", "entrypoint": "main.sh", "timeoutMs": 0},
             "timeoutMs"),
            ("unknown-field", {"name": "x", "version": "1", "runtime": "sh", "entrypoint": "main.sh", "colour": 1},
             "colour"),
            ("no-entrypoint", {"name": "x", "version": "1", "runtime": "sh", "entrypoint": "missing.sh"},
             "entrypoint"),
            ("not-json", "{name: x", "function.json"),
        ]
        for directory, spec, field in cases:
            with self.subTest(directory):
                src = self.source(directory, spec)
                out = self.ew("fn", "create", src)
                self.assertEqual(out.returncode, 2, out.stdout + out.stderr)  # a bad input file: usage
                self.assertTrue(out.stderr.startswith(f"error: {src}: "), out.stderr)
                self.assertIn(field, out.stderr)
                self.assertEqual(out.stdout, "")
        with open(os.path.join(self.workdir, "junk.tar.gz"), "wb") as f:
            f.write(b"not a tarball")
        junk = self.ew("fn", "create", os.path.join(self.workdir, "junk.tar.gz"))
        self.assertEqual(junk.returncode, 2, junk.stderr)
        self.assertEqual(self.functions(), [], "nothing reached the conductor")

    def test_fn_create_list_and_rm(self):
        fn = self.create("double")
        self.assertEqual(len(fn["sha256"]), 64)
        human = self.ok("fn", "create", self.source("double-again", {"name": "double", "version": "1.1.0",
                                                                     "runtime": "sh", "entrypoint": "main.sh"}))
        self.assertIn("function double 1.1.0 created: ", human.stdout)
        # The same name is the same function: 1.1.0 is its newest version.
        listing = self.ok("fn", "list").stdout.splitlines()
        self.assertEqual(listing[0].split(), ["ID", "NAME", "VERSION", "SHA256"])
        row = next(l for l in listing if fn["id"] in l).split()
        self.assertEqual(row[:3], [fn["id"], "double", "1.1.0"])
        self.assertNotEqual(row[3], fn["sha256"][:12])
        self.assertEqual(len(self.functions()), 1)
        self.ok("fn", "rm", "double")
        self.assertEqual(self.functions(), [])

    # ---- fn invoke (the cloud runtime: no board needed) ----

    def test_fn_invoke_exit_statuses_in_the_cloud(self):
        double = self.create("double")
        out = self.ok("fn", "invoke", "double", "--cloud", "--event", '{"n": 21}')
        self.assertEqual(json.loads(out.stdout), {"double": 42})
        self.assertEqual(len(out.stdout.strip().splitlines()), 1, "one line, for jq")
        record = json.loads(self.ok("fn", "invoke", double["id"], "--cloud", "--event-file", "-", "--json",
                                    stdin='{"n": 2}').stdout)
        self.assertEqual(record["status"], "succeeded")
        self.assertEqual(record["output"], {"double": 4})

        self.create("bad", main="#!/bin/sh\necho 'sensor not found' >&2\nexit 3\n")
        failed = self.ew("fn", "invoke", "bad", "--cloud")
        self.assertEqual(failed.returncode, 4, failed.stdout + failed.stderr)  # exit_code::kFunctionFailed
        self.assertEqual(failed.stdout, "")
        self.assertIn("sensor not found", failed.stderr)
        self.assertIn("error: function bad failed on cloud", failed.stderr)

        self.create("endless", main="#!/bin/sh\nwhile :; do :; done\n", timeoutMs=500)
        timed_out = self.ew("fn", "invoke", "endless", "--cloud")
        self.assertEqual(timed_out.returncode, 5, timed_out.stdout + timed_out.stderr)  # exit_code::kTimedOut
        self.assertIn("timed out", timed_out.stderr)

    def test_fn_invoke_async_then_logs(self):
        self.create("slow", main="#!/bin/sh\nsleep 0.3\necho 'working' >&2\necho '{\"done\": true}'\n")
        invocation = self.ok("fn", "invoke", "slow", "--cloud", "--async").stdout.strip()
        self.assertTrue(invocation)

        def finished():
            out = self.ok("fn", "logs", "slow", invocation)
            return out.stdout if "status:     running" not in out.stdout else None
        shown = wait_until(finished, timeout=15, interval=0.2, what="async invocation finished")
        self.assertIn("status:     succeeded", shown)
        self.assertIn("working", shown)
        self.assertIn(invocation, self.ok("fn", "logs", "slow").stdout)

    # ---- fn deploy --wait ----

    def board(self, name, start=True):
        board_id, code = self.conductor.create_board(self.token, name)
        agent = Agent(self.workdir, name)
        enrol = agent.enrol(self.conductor.url, code)
        self.assertEqual(enrol.returncode, 0, enrol.stdout + enrol.stderr)
        self.agents.append(agent)
        if start:
            agent.start()
            wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", what=f"{name} online")
        return board_id

    def test_fn_deploy_wait_to_a_fleet_with_an_offline_board(self):
        online = self.board("pi-on")
        offline = self.board("pi-off", start=False)
        self.ok("fleet", "create", "greenhouse")
        self.ok("fleet", "add", "greenhouse", online, offline)
        self.create("double")
        out = self.ew("fn", "deploy", "double", "--fleet", "greenhouse", "--wait", "--timeout", "8")
        self.assertEqual(out.returncode, 5, out.stdout + out.stderr)  # exit_code::kTimedOut
        self.assertIn("pi-on deployed", out.stdout)
        self.assertIn("pi-off pending", out.stderr)
        table = self.ok("fn", "deployments", "double").stdout
        self.assertEqual(next(l for l in table.splitlines() if online in l).split()[:3], [online, "deployed", "1.0.0"])
        invoked = self.ok("fn", "invoke", "double", "--board", "pi-on", "--event", '{"n": 5}')
        self.assertEqual(json.loads(invoked.stdout), {"double": 10})
        # A deploy to the online board alone finishes.
        self.ok("fn", "deploy", "double", "--board", "pi-on", "--wait")


if __name__ == "__main__":
    unittest.main()
