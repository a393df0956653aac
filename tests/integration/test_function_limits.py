"""Invocation limits that hold (review H3), end to end: a real conductor running functions in its
cloud runtime (real containers) on 127.0.0.1. A caller that stops waiting (timeoutMs) does not
free its place under max_running_per_function while its run goes on: the run is killed at the
caller's deadline and counts until it is gone, so calls with a tiny timeout cannot pile up
containers past the limit; a wait below 100 ms is refused; and the cloud runtime is free again
for an ordinary call right after."""

import concurrent.futures
import os
import random
import time
import unittest

from harness import ConductorTestCase, wait_until
from test_functions import RUNTIMES, package, sh_spec

# Sleeps the event's "sleep" (seconds, as text) and answers.
SLEEPY_SH = """#!/bin/sh
read -r event
s=$(printf '%s' "$event" | sed -n 's/.*"sleep":[ ]*"\\([0-9.]*\\)".*/\\1/p')
[ -n "$s" ] && sleep "$s"
echo '{"slept": "'"$s"'"}'
"""


def sleepers(seconds):
    """Processes on this host running `sleep <seconds>` (containers share the host's /proc view)."""
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) >= 2 and argv[0].endswith(b"sleep") and argv[1] == seconds.encode():
            n += 1
    return n


@unittest.skipUnless(RUNTIMES, "no container runtime (crun, runc or bwrap) on this host: apt-get install runc bubblewrap")
class FunctionLimitsTest(ConductorTestCase):
    workdir_prefix = "ew-limits-"
    conductor_config = "[functions]\nmax_running_per_function = 2\n"

    def upload(self, spec):
        status, body = self.rest("POST", "/v1/functions", raw=package(spec, {"main.sh": SLEEPY_SH}),
                                 content_type="application/gzip")
        self.assertEqual(status, 201, body)
        return body["id"]

    def call(self, fn, body):
        return self.rest("POST", f"/v1/functions/{fn}/invocations", body)

    def test_callers_that_give_up_early_stay_under_the_limit_and_their_runs_are_killed(self):
        fn = self.upload(sh_spec("sleepy", timeoutMs=20000))
        # A value no other process sleeps: the test counts the containers of this function.
        marker = f"7.{random.randint(100, 999)}"
        slow = {"placement": "cloud", "timeoutMs": 1000, "event": {"sleep": marker}}

        # A wait too short to start a container is refused.
        status, body = self.call(fn, dict(slow, timeoutMs=50))
        self.assertEqual(status, 400, body)
        self.assertIn("timeoutMs", body["error"]["message"])

        # A burst of 6 with a short wait: 2 run (and time out), the others are refused.
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            statuses = [s for s, _ in pool.map(lambda _: self.call(fn, slow), range(6))]
        self.assertTrue(set(statuses) <= {429, 504}, statuses)
        self.assertLessEqual(statuses.count(504), 2, statuses)
        self.assertGreaterEqual(statuses.count(429), 4, statuses)
        # The runs whose callers were answered 504 are killed, not left sleeping for 7 s.
        wait_until(lambda: sleepers(marker) == 0, timeout=3, interval=0.05, what="timed-out runs killed")

        # One after another, each caller giving up after 150 ms: before the fix each left its
        # container running, so they piled up past the limit of 2.
        most = 0
        for _ in range(6):
            status, body = self.call(fn, dict(slow, timeoutMs=150))
            self.assertIn(status, (429, 504), body)
            most = max(most, sleepers(marker))
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            most = max(most, sleepers(marker))
            time.sleep(0.02)
        self.assertLessEqual(most, 2, "more containers than max_running_per_function ran at once")
        wait_until(lambda: sleepers(marker) == 0, timeout=3, interval=0.05, what="timed-out runs killed")

        # An ordinary call right after: answered at once (a 429 while the last kill completes
        # at most), not stuck behind runs nobody waits for.
        started = time.monotonic()
        while True:
            status, body = self.call(fn, {"placement": "cloud", "event": {"sleep": "0"}})
            if status != 429 or time.monotonic() - started > 5:
                break
            time.sleep(0.05)
        self.assertEqual(status, 200, body)
        self.assertLess(time.monotonic() - started, 5)


@unittest.skipUnless(RUNTIMES, "no container runtime (crun, runc or bwrap) on this host: apt-get install runc bubblewrap")
class CloudQueueTest(ConductorTestCase):
    """A cloud runtime of one place: a run whose caller gave up must not hold it for its 7 s."""
    workdir_prefix = "ew-cloudq-"
    conductor_config = "[functions]\nmax_running = 1\n"

    def test_an_ordinary_call_is_not_stuck_behind_runs_nobody_waits_for(self):
        status, body = self.rest("POST", "/v1/functions", raw=package(sh_spec("sleepy", timeoutMs=20000),
                                                                      {"main.sh": SLEEPY_SH}),
                                 content_type="application/gzip")
        self.assertEqual(status, 201, body)
        fn = body["id"]
        for _ in range(3):  # one running, two queued behind it in the cloud host
            status, body = self.rest("POST", f"/v1/functions/{fn}/invocations",
                                     {"placement": "cloud", "timeoutMs": 300, "event": {"sleep": "7.5"}})
            self.assertIn(status, (429, 504), body)
        started = time.monotonic()
        status, body = self.rest("POST", f"/v1/functions/{fn}/invocations",
                                 {"placement": "cloud", "timeoutMs": 5000, "event": {"sleep": "0"}})
        self.assertEqual(status, 200, body)
        self.assertLess(time.monotonic() - started, 5)


if __name__ == "__main__":
    unittest.main()
