"""Functions, end to end: a real conductor and real agents on 127.0.0.1 running functions in real
containers (whichever of crun, runc and bwrap works here). Upload over REST, deploy to boards and
fleets, invoke synchronously and asynchronously, on a board and in the cloud runtime, warm
instances, failures, timeouts, and deployments that reach a board when it comes back."""

import concurrent.futures
import http.client
import io
import json
import os
import shutil
import signal
import tarfile
import time
import unittest

from harness import Agent, ConductorTestCase, cli, wait_until


def package(spec, files):
    """A function package: function.json + files ({path: text or (text, mode)}), as .tar.gz bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        entries = {"function.json": (json.dumps(spec), 0o644)}
        for path, content in files.items():
            entries[path] = content if isinstance(content, tuple) else (content, 0o755)
        for path, (text, mode) in sorted(entries.items()):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sh_spec(name, **extra):
    spec = {"name": name, "version": "1.0.0", "runtime": "sh", "entrypoint": "main.sh", "timeoutMs": 10000}
    spec.update(extra)
    return spec


# Doubles the "n" of the event with nothing but POSIX sh and sed.
DOUBLE_SH = """#!/bin/sh
read -r event
n=$(printf '%s' "$event" | sed -n 's/.*"n":[ ]*\\([0-9]*\\).*/\\1/p')
echo "{\\"double\\": $((n * 2)), \\"uid\\": $(id -u)}"
"""

PY_MAIN = """import json, sys
event = json.load(sys.stdin)
print("python says hi", file=sys.stderr)
json.dump({"greeting": "hello " + event.get("who", "world"), "version": sys.version_info[0]}, sys.stdout)
"""

# Warm mode: one process answers line after line; "crash" makes it exit.
WARM_PY = """import json, os, sys
for line in sys.stdin:
    event = json.loads(line)
    if event.get("crash"):
        sys.exit(3)
    print(json.dumps({"pid": os.getpid(), "n": event.get("n")}), flush=True)
"""


RUNTIMES = [r for r in ("crun", "runc", "bwrap") if shutil.which(r)]


@unittest.skipUnless(RUNTIMES, "no container runtime (crun, runc or bwrap) on this host: apt-get install runc bubblewrap")
class FunctionsTest(ConductorTestCase):
    workdir_prefix = "ew-fn-"

    # ---- helpers ----

    def board(self, name, start=True):
        board_id, code = self.conductor.create_board(self.token, name)
        agent = Agent(self.workdir, name)
        enrol = agent.enrol(self.conductor.url, code)
        self.assertEqual(enrol.returncode, 0, enrol.stdout + enrol.stderr)
        self.agents[board_id] = agent
        if start:
            agent.start()
            self.wait_online(board_id)
        return board_id

    def wait_online(self, board_id):
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", what=f"{board_id} online")

    def upload(self, spec, files, expect=201):
        status, body = self.rest("POST", "/v1/functions", raw=package(spec, files), content_type="application/gzip")
        self.assertEqual(status, expect, body)
        return body

    def deploy(self, function_id, board_ids=None, fleet_id=None, wait=True):
        body = {"boardIds": board_ids} if board_ids else {"fleetId": fleet_id}
        status, resp = self.rest("POST", f"/v1/functions/{function_id}/deployments", body)
        self.assertEqual(status, 202, resp)
        if wait:
            for board_id in board_ids or []:
                self.wait_deployed(function_id, board_id)
        return resp

    def deployment_states(self, function_id):
        status, body = self.rest("GET", f"/v1/functions/{function_id}/deployments")
        self.assertEqual(status, 200, body)
        return {d["boardId"]: d for d in body["deployments"]}

    def wait_deployed(self, function_id, board_id, timeout=30):
        def deployed():
            d = self.deployment_states(function_id).get(board_id)
            if d and d["state"] == "failed":
                raise AssertionError(f"deployment to {board_id} failed: {d}")
            return d and d["state"] == "deployed"
        wait_until(deployed, timeout=timeout, interval=0.1, what=f"{function_id} deployed on {board_id}")

    def invoke(self, function_id, event, board_id=None, cloud=False, expect=200, asynchronous=False):
        body = {"event": event}
        if cloud:
            body["target"] = "cloud"
        else:
            body["boardId"] = board_id
        if asynchronous:
            body["async"] = True
        status, resp = self.rest("POST", f"/v1/functions/{function_id}/invocations", body)
        self.assertEqual(status, expect, resp)
        return resp

    def record(self, resp):
        """The invocation record of a sync answer: the body itself, or "invocation" of an error."""
        return resp.get("invocation", resp)

    # ---- tests ----

    def test_sh_function_deployed_and_invoked_on_a_board(self):
        board_id = self.board("pi-1")
        fn = self.upload(sh_spec("double"), {"main.sh": DOUBLE_SH})
        self.assertEqual(len(fn["sha256"]), 64)
        self.deploy(fn["id"], [board_id])
        rec = self.record(self.invoke(fn["id"], {"n": 21}, board_id))
        self.assertEqual(rec["status"], "succeeded", rec)
        self.assertEqual(rec["output"]["double"], 42)
        self.assertNotEqual(rec["output"]["uid"], 0, "functions never run as root")
        self.assertEqual(rec["boardId"], board_id)
        self.assertIn(rec["runtime"], ("crun", "runc", "bwrap"))
        self.assertTrue(rec["cold"])
        self.assertGreater(rec["runMs"], 0)
        # sys.info names the runtime the board uses.
        status, info = self.rest("POST", f"/v1/boards/{board_id}/calls/sys.info", {})
        self.assertEqual(status, 200, info)
        self.assertIn(rec["runtime"], json.dumps(info))
        # ...and how it holds each function limit (issue #11): memory and processes always.
        limits = info["kwargs"]["containerLimits"]
        self.assertTrue(limits["memory"], limits)
        self.assertTrue(limits["pids"], limits)
        if os.geteuid() == 0:
            # As root the function runs as a uid of its own, never the agent's.
            self.assertTrue(limits["uid"], limits)
            self.assertGreaterEqual(rec["output"]["uid"], 1000000)

    def test_python_function_and_failures_carry_logs(self):
        board_id = self.board("pi-1")
        py = self.upload({"name": "greet", "version": "1", "runtime": "python3", "entrypoint": "main.py"},
                         {"main.py": (PY_MAIN, 0o644)})
        bad = self.upload(sh_spec("bad"), {"main.sh": "echo 'sensor not found' >&2\nexit 3\n"})
        self.deploy(py["id"], [board_id])
        self.deploy(bad["id"], [board_id])
        rec = self.record(self.invoke(py["id"], {"who": "edge"}, board_id))
        self.assertEqual(rec["output"], {"greeting": "hello edge", "version": 3})
        self.assertIn("python says hi", rec["logs"])
        resp = self.invoke(bad["id"], {}, board_id, expect=502)
        self.assertEqual(resp["error"]["code"], "function_failed")
        rec = self.record(resp)
        self.assertEqual(rec["status"], "failed")
        self.assertEqual(rec["exitCode"], 3)
        self.assertIn("sensor not found", rec["logs"])

    def test_endless_function_is_killed_at_its_timeout(self):
        board_id = self.board("pi-1")
        marker = "ew-endless-" + os.path.basename(self.workdir)
        fn = self.upload(sh_spec("endless", timeoutMs=800),
                         {"main.sh": f"sleep 1000 &\nwhile :; do :; done # {marker}\n"})
        self.deploy(fn["id"], [board_id])
        started = time.monotonic()
        resp = self.invoke(fn["id"], {}, board_id, expect=504)
        self.assertLess(time.monotonic() - started, 8)
        self.assertEqual(self.record(resp)["status"], "timed_out")

        def leftovers():
            found = []
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if marker.encode() in f.read():
                            found.append(pid)
                except OSError:
                    pass
            return found
        wait_until(lambda: not leftovers(), timeout=5, what="no process of the killed container left")

    def test_invalid_manifest_is_rejected_and_nothing_is_stored(self):
        status, body = self.rest("POST", "/v1/functions",
                                 raw=package({"name": "x", "version": "1", "runtime": "cobol", "entrypoint": "m"},
                                             {"m": "x"}), content_type="application/gzip")
        self.assertEqual(status, 400, body)
        self.assertIn("runtime", body["error"]["message"])
        status, body = self.rest("POST", "/v1/functions", raw=b"not a tarball", content_type="application/gzip")
        self.assertEqual(status, 400, body)
        status, body = self.rest("POST", "/v1/functions", raw=b"x" * (16 * 1024 * 1024 + 1),
                                 content_type="application/gzip")
        self.assertEqual(status, 413, body)
        status, body = self.rest("POST", "/v1/functions", {"name": "x"})
        self.assertEqual(status, 415, body)
        status, body = self.rest("GET", "/v1/functions")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["functions"], [])

    def test_fleet_deployment_reaches_an_offline_board_when_it_returns(self):
        online = self.board("pi-on")
        offline = self.board("pi-off", start=False)
        status, fleet = self.rest("POST", "/v1/fleets", {"name": "greenhouse"})
        self.assertEqual(status, 201, fleet)
        fleet_id = fleet["id"]
        for board_id in (online, offline):
            status, body = self.rest("PUT", f"/v1/fleets/{fleet_id}/boards/{board_id}")
            self.assertIn(status, (200, 204), body)
        fn = self.upload(sh_spec("double"), {"main.sh": DOUBLE_SH})
        self.deploy(fn["id"], fleet_id=fleet_id, wait=False)
        self.wait_deployed(fn["id"], online)
        self.assertEqual(self.deployment_states(fn["id"])[offline]["state"], "pending")
        self.agents[offline].start()
        self.wait_online(offline)
        self.wait_deployed(fn["id"], offline)
        rec = self.record(self.invoke(fn["id"], {"n": 5}, offline))
        self.assertEqual(rec["output"]["double"], 10)

    def test_deployment_survives_an_agent_restart(self):
        board_id = self.board("pi-1")
        fn = self.upload(sh_spec("double"), {"main.sh": DOUBLE_SH})
        self.deploy(fn["id"], [board_id])
        agent = self.agents[board_id]
        agent.kill(signal.SIGTERM)
        agent.start()
        self.wait_online(board_id)
        rec = self.record(self.invoke(fn["id"], {"n": 4}, board_id))
        self.assertEqual(rec["output"]["double"], 8)

    def test_function_undeployed_while_the_board_was_away_is_removed_when_it_returns(self):
        board_id = self.board("pi-1")
        kept = self.upload(sh_spec("kept"), {"main.sh": DOUBLE_SH})
        gone = self.upload(sh_spec("gone"), {"main.sh": DOUBLE_SH})
        self.deploy(kept["id"], [board_id])
        self.deploy(gone["id"], [board_id])
        agent = self.agents[board_id]
        agent.kill(signal.SIGTERM)
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "offline", what=f"{board_id} offline")
        status, body = self.rest("DELETE", f"/v1/functions/{gone['id']}/deployments/{board_id}")
        self.assertEqual(status, 204, body)
        agent.start()
        self.wait_online(board_id)

        def held():
            status, body = self.rest("POST", f"/v1/boards/{board_id}/calls/fn.list", {})
            self.assertEqual(status, 200, body)
            return sorted(f["functionId"] for f in body["kwargs"]["functions"])
        wait_until(lambda: held() == [kept["id"]], timeout=15, interval=0.1, what="the undeployed function removed")
        rec = self.record(self.invoke(kept["id"], {"n": 3}, board_id))
        self.assertEqual(rec["output"]["double"], 6)
        self.invoke(gone["id"], {"n": 3}, board_id, expect=409)

    def test_async_invocation_result_and_logs_are_fetched_later(self):
        board_id = self.board("pi-1")
        fn = self.upload(sh_spec("slow"), {"main.sh": "sleep 0.3\necho 'working' >&2\necho '{\"done\": true}'\n"})
        self.deploy(fn["id"], [board_id])
        resp = self.invoke(fn["id"], {}, board_id, expect=202, asynchronous=True)
        inv = resp["invocationId"]

        def finished():
            status, body = self.rest("GET", f"/v1/functions/{fn['id']}/invocations/{inv}")
            self.assertEqual(status, 200, body)
            return body if body.get("status") not in (None, "running") else None
        rec = wait_until(finished, timeout=15, interval=0.1, what="async invocation finished")
        self.assertEqual(rec["status"], "succeeded", rec)
        self.assertEqual(rec["output"], {"done": True})
        self.assertIn("working", rec["logs"])

    def test_cloud_runtime_runs_the_same_package(self):
        fn = self.upload(sh_spec("double"), {"main.sh": DOUBLE_SH})
        rec = self.record(self.invoke(fn["id"], {"n": 50}, cloud=True))
        self.assertEqual(rec["status"], "succeeded", rec)
        self.assertEqual(rec["output"]["double"], 100)
        board_only = self.upload(sh_spec("gpio-only", boardOnly=True), {"main.sh": DOUBLE_SH})
        self.invoke(board_only["id"], {"n": 1}, cloud=True, expect=400)
        # A function that declares network would share the conductor's network in the cloud
        # (loopback services, metadata endpoints): refused there by default ([functions]
        # cloud_network = false), and placement auto does not offer the cloud either.
        networked = self.upload(sh_spec("fetcher", network=True), {"main.sh": DOUBLE_SH})
        refused = self.invoke(networked["id"], {"n": 1}, cloud=True, expect=400)
        self.assertIn("cloud_network", refused["error"]["message"])
        status, body = self.rest("POST", f"/v1/functions/{networked['id']}/invocations", {"event": {"n": 1}})
        self.assertNotEqual(status, 200, body)
        self.assertNotIn("succeeded", json.dumps(body))

    def test_twenty_concurrent_invocations_on_one_board(self):
        board_id = self.board("pi-1")
        fn = self.upload(sh_spec("double", maxConcurrency=8), {"main.sh": DOUBLE_SH})
        self.deploy(fn["id"], [board_id])
        with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(lambda n: self.record(self.invoke(fn["id"], {"n": n}, board_id)), range(20)))
        self.assertEqual([r["output"]["double"] for r in results], [2 * n for n in range(20)])
        self.assertTrue(all(r["status"] == "succeeded" for r in results))

    def test_warm_instance_is_reused_and_survives_a_crash(self):
        board_id = self.board("pi-1")
        spec = {"name": "warm", "version": "1", "runtime": "python3", "entrypoint": "main.py",
                "warm": {"enabled": True, "maxInstances": 1, "idleTimeoutS": 60}}
        fn = self.upload(spec, {"main.py": (WARM_PY, 0o644)})
        self.deploy(fn["id"], [board_id])
        first = self.record(self.invoke(fn["id"], {"n": 1}, board_id))
        second = self.record(self.invoke(fn["id"], {"n": 2}, board_id))
        self.assertEqual(second["output"]["pid"], first["output"]["pid"], "the warm instance served both calls")
        self.assertFalse(second["cold"])
        self.assertEqual(second["output"]["n"], 2)
        crashed = self.record(self.invoke(fn["id"], {"crash": True}, board_id, expect=502))
        self.assertEqual(crashed["status"], "failed")
        after = self.record(self.invoke(fn["id"], {"n": 3}, board_id))
        self.assertEqual(after["status"], "succeeded", after)
        self.assertEqual(after["output"]["n"], 3)

    def test_a_function_cannot_read_the_board_secret(self):
        board_id = self.board("pi-1")
        credential = self.agents[board_id].credential
        fn = self.upload(sh_spec("snoop"), {"main.sh": f"cat '{credential}' /etc/edgewire/agent.toml >&2; "
                                                       "ls / >&2; echo '{\"ok\": true}'\n"})
        self.deploy(fn["id"], [board_id])
        rec = self.record(self.invoke(fn["id"], {}, board_id))
        secret = self.agents[board_id].read_credential()["secret"]
        self.assertNotIn(secret, rec["logs"])
        self.assertIn("No such file", rec["logs"])

    def test_cli_creates_deploys_and_invokes(self):
        board_id = self.board("pi-1")
        src = os.path.join(self.workdir, "double-src")
        os.makedirs(src)
        with open(os.path.join(src, "function.json"), "w") as f:
            json.dump(sh_spec("double-cli"), f)
        with open(os.path.join(src, "main.sh"), "w") as f:
            f.write(DOUBLE_SH)
        os.chmod(os.path.join(src, "main.sh"), 0o755)
        created = cli(self.conductor, "fn", "create", src, "--json", token=self.token)
        self.assertEqual(created.returncode, 0, created.stdout + created.stderr)
        fn_id = json.loads(created.stdout)["id"]
        deployed = cli(self.conductor, "fn", "deploy", fn_id, "--board", board_id, "--wait", token=self.token)
        self.assertEqual(deployed.returncode, 0, deployed.stdout + deployed.stderr)
        invoked = cli(self.conductor, "fn", "invoke", fn_id, "--board", board_id, "--event", '{"n": 7}',
                      token=self.token)
        self.assertEqual(invoked.returncode, 0, invoked.stdout + invoked.stderr)
        self.assertEqual(json.loads(invoked.stdout)["double"], 14)

    def test_cold_invocations_from_the_sandbox_pool_each_get_a_sandbox_of_their_own(self):
        """Issue 15: where the board's runtime prepares sandboxes ahead (bwrap with cgroups),
        cold invocations run in them through the whole path ("prepared": true), each in a
        sandbox no other invocation used (/tmp empty), without network unless declared."""
        board_id = self.board("pi-pool")
        status, info = self.rest("POST", f"/v1/boards/{board_id}/calls/sys.info", {})
        self.assertEqual(status, 200, info)
        kw = info["kwargs"]
        if kw["containerRuntime"] != "bwrap" or not kw["containerLimits"]["cpu"]:
            self.skipTest(f"no prepared sandboxes with {kw['containerRuntime']} {kw['containerLimits']} here")
        fn = self.upload(sh_spec("pooled", maxConcurrency=16), {"main.sh": POOL_PROBE_SH})
        self.deploy(fn["id"], [board_id])
        records = [self.record(self.invoke(fn["id"], {"n": i}, board_id)) for i in range(5)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
            def one(i):
                conn = http.client.HTTPConnection("127.0.0.1", self.conductor.port, timeout=60)
                conn.request("POST", f"/v1/functions/{fn['id']}/invocations",
                             body=json.dumps({"boardId": board_id, "event": {"n": 100 + i}}),
                             headers={"Content-Type": "application/json", "X-Auth-Token": self.token})
                resp = conn.getresponse()
                body = json.loads(resp.read())
                conn.close()
                self.assertEqual(resp.status, 200, body)
                return body
            records += list(pool.map(one, range(10)))
        for rec in records:
            self.assertEqual(rec["status"], "succeeded", rec)
            self.assertTrue(rec["cold"], rec)
            self.assertEqual(rec["output"]["tmp"], "", f"a /tmp another invocation wrote to: {rec}")
            self.assertEqual(rec["output"]["ifaces"], "lo ", rec)
        self.assertEqual(sorted(r["output"]["event"]["n"] for r in records), list(range(5)) + list(range(100, 110)))
        # The pool (4 at first) serves the sequential calls, refilled in between, and the
        # burst's first calls; the rest of a burst starts its own sandboxes.
        self.assertGreaterEqual(sum(1 for r in records if r.get("prepared")), 4, records)


# Reports /tmp as found (then writes to it) and the network interfaces it sees.
POOL_PROBE_SH = """#!/bin/sh
read -r event
tmp=$(ls -A /tmp | tr '\\n' ' ')
: > /tmp/used-by-an-invocation
ifaces=$(sed -n '3,$p' /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')
printf '{"tmp": "%s", "ifaces": "%s", "event": %s}\\n' "$tmp" "$ifaces" "$event"
"""


if __name__ == "__main__":
    unittest.main()
