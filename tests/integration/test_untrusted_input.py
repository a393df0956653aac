"""Untrusted input against a real conductor and agent (issue 11): request bodies and function
output nested deeper than any parser should follow, and results larger than one WAMP message.
Each must fail only its own request or invocation: the conductor keeps serving, the board keeps
its session, and nothing is stored for a refused request."""

import concurrent.futures
import json
import unittest

from harness import wait_until
from test_functions import FunctionsTest, sh_spec

# 100,000 levels: nlohmann parses this fine and recursion in copy or dump then overflows the stack.
DEEP = "[" * 100_000 + "]" * 100_000

PY_SPEC = {"version": "1", "runtime": "python3", "entrypoint": "main.py", "timeoutMs": 20000}


class UntrustedInputTest(FunctionsTest):
    workdir_prefix = "ew-untrusted-"

    def assert_alive(self):
        self.assertIsNone(self.conductor.proc.poll(), "the conductor died")
        self.assertTrue(self.conductor.healthy())

    def test_deeply_nested_request_bodies_get_400_and_change_nothing(self):
        board_id = self.board("pi-1")
        fn = self.upload(sh_spec("double"), {"main.sh": "cat\n"})
        self.deploy(fn["id"], [board_id])
        status, before = self.rest("GET", f"/v1/functions/{fn['id']}/invocations")
        self.assertEqual(status, 200, before)
        for method, path in [
            ("PUT", f"/v1/boards/{board_id}/gpio/GPIO17"),
            ("PUT", "/v1/boards/no-such-board/gpio/GPIO17"),
            ("POST", f"/v1/functions/{fn['id']}/invocations"),
            ("POST", f"/v1/boards/{board_id}/calls/sys.ping"),
            ("POST", "/v1/fleets"),
            ("POST", "/v1/projects"),
        ]:
            for body in (DEEP, '{"event": ' + DEEP + "}", '{"kwargs": {"a": ' + DEEP + "}}"):
                status, resp = self.rest(method, path, raw=body.encode())
                self.assertIn(status, (400, 404), f"{method} {path}: {resp}")
                if status == 400:
                    self.assertIn("error", resp)
                    self.assertNotIn("[[[[", resp["error"]["message"], "errors never quote the input")
            self.assert_alive()
        status, after = self.rest("GET", f"/v1/functions/{fn['id']}/invocations")
        self.assertEqual(after, before, "a refused invocation left a record")
        self.assertEqual(self.conductor.status_of(self.token, board_id), "online")

    def test_function_output_too_deep_fails_only_its_own_invocation(self):
        board_id = self.board("pi-1")
        deep = self.upload(dict(PY_SPEC, name="deep"),
                           {"main.py": ("import sys\nn = int(sys.stdin.read() or 0)\n"
                                        "print('[' * n + ']' * n)\n", 0o644)})
        slow = self.upload(sh_spec("slow"), {"main.sh": "sleep 1\necho '{\"ok\": true}'\n"})
        self.deploy(deep["id"], [board_id])
        self.deploy(slow["id"], [board_id])
        for where in ({"board_id": board_id}, {"cloud": True}):
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                # A normal invocation in flight on the same board while the deep ones come back.
                in_flight = pool.submit(self.invoke, slow["id"], {}, **where)
                for depth in (65, 127, 200, 100_000):
                    resp = self.invoke(deep["id"], depth, expect=502, **where)
                    rec = self.record(resp)
                    self.assertEqual(rec["status"], "failed", rec)
                    self.assertIn("nesting deeper than 64 levels", rec["error"])
                ok = self.record(in_flight.result(timeout=60))
                self.assertEqual(ok["output"], {"ok": True}, ok)
            # Within the limit it works.
            rec = self.record(self.invoke(deep["id"], 60, **where))
            self.assertEqual(rec["status"], "succeeded", rec)
            self.assert_alive()
        self.assertEqual(self.conductor.status_of(self.token, board_id), "online")

    def test_large_output_with_large_logs_reaches_the_caller(self):
        # 1,000,000 bytes of output and 300 KB of stderr, both within the caps, are more than one
        # WAMP message: the board trims the logs to fit and the session is untouched.
        board_id = self.board("pi-1")
        big = self.upload(dict(PY_SPEC, name="big"),
                          {"main.py": ("import json, sys\nsys.stdin.read()\n"
                                       "sys.stderr.write('l' * 300_000)\n"
                                       "json.dump({'s': 'x' * 999_990}, sys.stdout)\n", 0o644)})
        self.deploy(big["id"], [board_id])
        rec = self.record(self.invoke(big["id"], {}, board_id))
        self.assertEqual(rec["status"], "succeeded", {k: v for k, v in rec.items() if k != "output"})
        self.assertEqual(len(rec["output"]["s"]), 999_990)
        self.assertIn("logs trimmed to fit", rec["logs"])
        self.assertLess(len(rec["logs"]), 300_000)
        self.assertEqual(self.conductor.status_of(self.token, board_id), "online")
        # And again: the session that carried it is the one still serving.
        status, ping = self.rest("POST", f"/v1/boards/{board_id}/calls/sys.ping", {})
        self.assertEqual(status, 200, ping)


if __name__ == "__main__":
    unittest.main()
