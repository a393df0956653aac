"""Cloud run slots shared by projects (issue 18 review M3), end to end: a real conductor whose cloud
runtime (real containers) has 2 places. Project A fills both and queues 4 more long calls; project
B's one call then takes the next place that frees, instead of waiting behind all of A's queue (its
wait would count as the cloud's slowness in B's placement statistics)."""

import random
import time
import unittest

from harness import ConductorTestCase, wait_until
from test_function_limits import SLEEPY_SH, sleepers
from test_functions import RUNTIMES, package, sh_spec

SLEEP_S = 2.5  # each of A's runs


@unittest.skipUnless(RUNTIMES, "no container runtime (crun, runc or bwrap) on this host: apt-get install runc bubblewrap")
class CloudFairShareTest(ConductorTestCase):
    workdir_prefix = "ew-fair-"
    conductor_config = "[functions]\nmax_running = 2\n"

    def project_with_function(self, name):
        status, body = self.rest("POST", "/v1/projects", {"name": name})
        self.assertEqual(status, 201, body)
        project = body["id"]
        spec = sh_spec("sleepy", timeoutMs=20000, maxConcurrency=8)
        status, body = self.rest("POST", f"/v1/functions?project={project}", raw=package(spec, {"main.sh": SLEEPY_SH}),
                                 content_type="application/gzip")
        self.assertEqual(status, 201, body)
        self.assertEqual(body["projectId"], project)
        return body["id"]

    def test_a_project_does_not_wait_behind_another_projects_queue(self):
        fn_a = self.project_with_function("proj-a")
        fn_b = self.project_with_function("proj-b")
        # A value no other process sleeps: the test counts A's containers.
        marker = f"{SLEEP_S}{random.randint(100, 999)}"
        for _ in range(6):
            status, body = self.rest("POST", f"/v1/functions/{fn_a}/invocations",
                                     {"placement": "cloud", "async": True, "event": {"sleep": marker}})
            self.assertEqual(status, 202, body)
        wait_until(lambda: sleepers(marker) == 2, timeout=10, interval=0.02, what="A's first two runs")
        time.sleep(0.3)  # A's other 4 calls reach the cloud host's queue (milliseconds after their 202)

        started = time.monotonic()
        status, body = self.rest("POST", f"/v1/functions/{fn_b}/invocations",
                                 {"placement": "cloud", "timeoutMs": 30000, "event": {"sleep": "0"}})
        took = time.monotonic() - started
        self.assertEqual(status, 200, body)
        print(f"B answered in {took:.2f} s (queueMs {body['queueMs']:.0f})")
        # B took the first place that freed (under SLEEP_S), not one after A's queue (about
        # 3 × SLEEP_S): A's queue still runs afterwards. (The run of A that took the other freed
        # place may not have exec'd its sleep yet at the instant B is answered: wait for it.)
        self.assertLess(took, 2 * SLEEP_S, body)
        self.assertLess(body["queueMs"], 2 * SLEEP_S * 1000, body)
        wait_until(lambda: sleepers(marker) > 0, timeout=SLEEP_S, interval=0.02,
                   what="A's queue still running after B was answered")

        def a_done():
            status, body = self.rest("GET", f"/v1/functions/{fn_a}/invocations")
            self.assertEqual(status, 200, body)
            done = [i for i in body["invocations"] if i["status"] != "running"]
            return len(done) == 6 and all(i["status"] == "succeeded" for i in done)
        wait_until(a_done, timeout=30, interval=0.2, what="A's six calls succeeded")


if __name__ == "__main__":
    unittest.main()
