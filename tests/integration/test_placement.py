"""Placement (issue 18), end to end: a real conductor with its cloud runtime and real agents on
127.0.0.1. Calls that name no runtime go where the conductor measured the fastest answers; a
board that goes away in the middle of a call falls back to the cloud; cloudOnly functions never
reach a board; the concurrency limit answers 429 with Retry-After; GET .../stats shows it all.
Also: a function's own strategy in function.json, each board's cap (its agent's [functions]
max_running) and statistics that survive a restart of the conductor."""

import concurrent.futures
import json
import os
import signal
import unittest
import urllib.error
import urllib.request

from harness import Agent, ConductorTestCase, cli, wait_until
from test_functions import RUNTIMES, package, sh_spec

# Sleeps the event's "sleep" (seconds, as text: "0.2") and answers where it ran.
SLEEPY_SH = """#!/bin/sh
read -r event
s=$(printf '%s' "$event" | sed -n 's/.*"sleep":[ ]*"\\([0-9.]*\\)".*/\\1/p')
[ -n "$s" ] && sleep "$s"
echo '{"slept": "'"$s"'"}'
"""


@unittest.skipUnless(RUNTIMES, "no container runtime (crun, runc or bwrap) on this host: apt-get install runc bubblewrap")
class PlacementTest(ConductorTestCase):
    workdir_prefix = "ew-place-"
    conductor_config = "[functions]\nmax_running_per_function = 2\n"

    def board(self, name, max_running=None):
        board_id, code = self.conductor.create_board(self.token, name)
        agent = Agent(self.workdir, name)
        if max_running is not None:  # into the agent's [functions] table
            with open(agent.config) as f:
                text = f.read()
            with open(agent.config, "w") as f:
                f.write(text.replace("[functions]\n", f"[functions]\nmax_running = {max_running}\n", 1))
        enrol = agent.enrol(self.conductor.url, code)
        self.assertEqual(enrol.returncode, 0, enrol.stdout + enrol.stderr)
        self.agents[board_id] = agent
        agent.start()
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", what=f"{board_id} online")
        return board_id

    def upload(self, spec):
        status, body = self.rest("POST", "/v1/functions", raw=package(spec, {"main.sh": SLEEPY_SH}),
                                 content_type="application/gzip")
        self.assertEqual(status, 201, body)
        return body["id"]

    def deploy(self, fn, board_id):
        status, body = self.rest("POST", f"/v1/functions/{fn}/deployments", {"boardIds": [board_id]})
        self.assertEqual(status, 202, body)

        def deployed():
            _, listed = self.rest("GET", f"/v1/functions/{fn}/deployments")
            return any(d["boardId"] == board_id and d["state"] == "deployed" for d in listed["deployments"])
        wait_until(deployed, timeout=30, interval=0.1, what=f"{fn} deployed on {board_id}")

    def invoke(self, fn, body, expect=200):
        status, resp = self.rest("POST", f"/v1/functions/{fn}/invocations", body)
        self.assertEqual(status, expect, resp)
        return resp.get("invocation", resp)

    def stats(self, fn, strategy=None):
        status, body = self.rest("GET", f"/v1/functions/{fn}/stats" + (f"?strategy={strategy}" if strategy else ""))
        self.assertEqual(status, 200, body)
        return {r["runtime"]: r for r in body["runtimes"]}

    def test_auto_placement_follows_the_measured_durations_and_falls_back_when_a_board_goes_away(self):
        # retryOnTimeout: a board that stops answering in the middle of a call may still run it,
        # so the call moves on to the cloud only because the function allows running twice.
        fn = self.upload(sh_spec("sleepy", timeoutMs=5000, retryOnTimeout=True))
        board = self.board("pi-place")
        self.deploy(fn, board)
        # Forced calls teach placement too: the cloud is slow for this function, the board fast.
        for _ in range(2):
            self.invoke(fn, {"placement": "cloud", "event": {"sleep": "0.6"}})
            self.invoke(fn, {"placement": f"board:{board}", "event": {"sleep": "0"}})
        stats = self.stats(fn, "greedy")
        self.assertEqual(stats["cloud"]["count"], 2)
        self.assertGreater(stats["cloud"]["meanMs"], 500)
        self.assertLess(stats[f"board:{board}"]["meanMs"], stats["cloud"]["meanMs"])
        self.assertTrue(stats[f"board:{board}"]["available"])
        placed = []
        for _ in range(5):
            rec = self.invoke(fn, {"strategy": "greedy", "event": {"sleep": "0"}})
            placed.append(rec["placement"]["runtime"])
            self.assertEqual(rec["placement"]["strategy"], "greedy")
            self.assertIsNotNone(rec["placement"]["weights"]["cloud"])
        # Greedy sends a random 10% elsewhere (half of those to the cloud).
        self.assertGreaterEqual(placed.count(f"board:{board}"), 3, placed)
        # The board stops answering during the call (its process frozen): the conductor drops
        # its session and the call ends in the cloud, saying what it tried.
        agent = self.agents[board]
        rec = None
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            for _ in range(10):  # greedy explores the cloud now and then (epsilon 0.1): try again then
                pending = pool.submit(self.invoke, fn, {"strategy": "greedy", "event": {"sleep": "1"}})
                wait_until(lambda: self.board_is_running(agent) or pending.done(), timeout=10, interval=0.02,
                           what="the call running")
                if pending.done():
                    self.assertEqual(pending.result()["placement"]["runtime"], "cloud")
                    continue
                agent.proc.send_signal(signal.SIGSTOP)
                try:
                    rec = pending.result(timeout=60)
                finally:
                    agent.proc.send_signal(signal.SIGCONT)
                break
        self.assertIsNotNone(rec, "no call was placed on the board")
        self.assertEqual(rec["status"], "succeeded", rec)
        self.assertEqual(rec["target"], "cloud")
        tried = [t["runtime"] for t in rec["placement"]["tried"]]
        self.assertEqual(tried, [f"board:{board}", "cloud"], rec)
        self.assertGreaterEqual(self.stats(fn)[f"board:{board}"]["failures"], 1)

    def post_with_headers(self, path, body):
        req = urllib.request.Request(self.conductor.url + path, data=json.dumps(body).encode(), method="POST")
        req.add_header("Content-Type", "application/json")
        req.add_header("X-Auth-Token", self.token)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read()), {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read()), {k.lower(): v for k, v in e.headers.items()}

    def board_is_running(self, agent):
        """Whether the function's `sleep` runs on the board now: a `sleep` process among the
        agent's descendants. Having children is not enough: the agent keeps sandboxes prepared
        ahead of calls, so it has children while nothing runs."""
        pending, seen = [agent.proc.pid], set()
        while pending:
            pid = pending.pop()
            if pid in seen:
                continue
            seen.add(pid)
            if pid != agent.proc.pid:
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        if f.read().strip() == "sleep":
                            return True
                except OSError:
                    continue
            try:
                tasks = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for task in tasks:
                try:
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        pending.extend(int(c) for c in f.read().split())
                except OSError:
                    continue
        return False

    def test_cloud_only_functions_never_run_on_a_board(self):
        fn = self.upload(sh_spec("cloudy", cloudOnly=True))
        board = self.board("pi-cloudonly")
        status, body = self.rest("POST", f"/v1/functions/{fn}/deployments", {"boardIds": [board]})
        self.assertEqual(status, 400, body)
        for strategy in ("greedy", "ucb1", "bayes-ucb", "sliding-ucb"):
            rec = self.invoke(fn, {"strategy": strategy, "event": {}})
            self.assertEqual(rec["target"], "cloud")
        self.invoke(fn, {"placement": f"board:{board}"}, expect=400)
        self.assertEqual(list(self.stats(fn)), ["cloud"])
        # The CLI: an invocation without --board or --cloud is placed; `fn stats` shows why.
        home = os.path.join(self.workdir, "cli-home")
        ran = cli(self.conductor, "fn", "invoke", fn, "--strategy", "bayes-ucb", token=self.token, home=home)
        self.assertEqual(ran.returncode, 0, ran.stdout + ran.stderr)
        shown = cli(self.conductor, "fn", "stats", fn, token=self.token, home=home)
        self.assertEqual(shown.returncode, 0, shown.stdout + shown.stderr)
        self.assertIn("strategy: ucb1", shown.stdout)
        lines = shown.stdout.splitlines()
        self.assertEqual(lines[1].split()[:2], ["RUNTIME", "AVAILABLE"], shown.stdout)
        self.assertEqual(lines[2].split()[:4], ["cloud", "yes", "5", "0"], shown.stdout)

    def test_concurrency_limit_answers_429_with_retry_after(self):
        fn = self.upload(sh_spec("slow", timeoutMs=10000))
        # Two asynchronous calls hold the function's two places until they end.
        ids = [self.invoke(fn, {"placement": "cloud", "async": True, "event": {"sleep": "3"}}, expect=202)["invocationId"]
               for _ in range(2)]
        status, body, headers = self.post_with_headers(f"/v1/functions/{fn}/invocations", {"placement": "cloud"})
        self.assertEqual(status, 429, body)
        self.assertEqual(body["error"]["code"], "resource_exhausted")
        self.assertIn("running", body["error"]["message"])
        self.assertTrue(1 <= int(headers["retry-after"]) <= 30, headers)

        def ended(inv):
            status, rec = self.rest("GET", f"/v1/functions/{fn}/invocations/{inv}")
            return status == 200 and rec["status"] != "running"
        for inv in ids:
            wait_until(lambda: ended(inv), timeout=30, interval=0.1, what=f"{inv} ended")
        self.invoke(fn, {"placement": "cloud", "event": {}})  # room again

    def test_statistics_survive_a_conductor_restart(self):
        # The manifest names the strategy (greedy, no exploration): placement is deterministic.
        fn = self.upload(sh_spec("learnt", timeoutMs=5000, placement={"strategy": "greedy", "epsilon": 0}))
        board = self.board("pi-learnt")
        self.deploy(fn, board)
        # Taught with forced calls: the board is slow for this function, the cloud fast. Left to
        # itself (nothing measured) placement would try the board first.
        for _ in range(2):
            self.invoke(fn, {"placement": f"board:{board}", "event": {"sleep": "0.8"}})
            self.invoke(fn, {"placement": "cloud", "event": {"sleep": "0"}})
        for _ in range(3):
            rec = self.invoke(fn, {"event": {"sleep": "0"}})
            self.assertEqual(rec["placement"]["strategy"], "greedy")
            self.assertEqual(rec["placement"]["runtime"], "cloud", rec)
        before = self.stats(fn)
        # SIGTERM: what was learnt since the last periodic flush is written as the conductor goes.
        self.conductor.stop()
        self.conductor.start()
        wait_until(lambda: self.conductor.status_of(self.token, board) == "online", timeout=30, what="board back")
        # The cloud runtime is probed in the background after a start: wait until it is offered.
        wait_until(lambda: self.stats(fn)["cloud"]["available"], timeout=30, what="cloud runtime probed")
        after = self.stats(fn)
        self.assertEqual(after[f"board:{board}"]["count"], 2, after)
        self.assertEqual(after["cloud"]["count"], 5, after)
        for runtime in ("cloud", f"board:{board}"):
            self.assertEqual(after[runtime]["meanMs"], before[runtime]["meanMs"], runtime)
            self.assertEqual(after[runtime]["recentMs"], before[runtime]["recentMs"], runtime)
        status, body = self.rest("GET", f"/v1/functions/{fn}/stats")
        self.assertEqual(body["strategy"], "greedy")  # the manifest's
        # Still where it learnt to go: no new round of trying the board.
        for _ in range(3):
            rec = self.invoke(fn, {"event": {"sleep": "0"}})
            self.assertEqual(rec["placement"]["runtime"], "cloud", rec)
        self.assertEqual(self.stats(fn)[f"board:{board}"]["count"], 2)

    def test_an_unknown_strategy_in_the_manifest_is_refused_at_upload(self):
        status, body = self.rest("POST", "/v1/functions",
                                 raw=package(sh_spec("odd", placement={"strategy": "thompson"}), {"main.sh": SLEEPY_SH}),
                                 content_type="application/gzip")
        self.assertEqual(status, 400, body)
        self.assertIn("placement.strategy: must be one of", body["error"]["message"])
        status, listed = self.rest("GET", "/v1/functions")
        self.assertNotIn("odd", [f["name"] for f in listed["functions"]])

    def test_a_board_at_its_cap_is_skipped_and_then_the_call_gets_429(self):
        fn = self.upload(sh_spec("capped", timeoutMs=10000, boardOnly=True))
        boards = [self.board(name, max_running=1) for name in ("pi-cap-a", "pi-cap-b")]
        for board in boards:
            self.deploy(fn, board)
        # Each board runs one call at a time ([functions] max_running = 1, reported in sys.info).
        ids = [self.invoke(fn, {"async": True, "event": {"sleep": "3"}}, expect=202)["invocationId"] for _ in range(2)]
        status, body, headers = self.post_with_headers(f"/v1/functions/{fn}/invocations", {"event": {}})
        self.assertEqual(status, 429, body)
        self.assertIn("concurrency cap", body["error"]["message"])
        self.assertTrue(1 <= int(headers["retry-after"]) <= 30, headers)

        def ended(inv):
            status, rec = self.rest("GET", f"/v1/functions/{fn}/invocations/{inv}")
            return rec if status == 200 and rec["status"] != "running" else None
        targets = []
        for inv in ids:
            wait_until(lambda: ended(inv), timeout=30, interval=0.1, what=f"{inv} ended")
            rec = ended(inv)
            self.assertEqual(rec["status"], "succeeded", rec)
            targets.append(rec.get("boardId"))
        self.assertEqual(sorted(targets), sorted(boards))  # the second call skipped the busy board
        self.invoke(fn, {"event": {}})  # room again


if __name__ == "__main__":
    unittest.main()
