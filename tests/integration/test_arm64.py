"""The arm64 agent (issue 16), cross-built by deploy/scripts/cross-build-arm64.sh, run under
qemu-aarch64 (qemu-user) against an amd64 conductor on 127.0.0.1: enrol, online, sys.info says
aarch64, sys.ping, GPIO on the simulated chip (written through REST, driven through the sim
control socket), sys.logs, a function invocation where the host's container runtime allows,
and sys.restart's exit status. Skips, saying why, when the cross build or qemu is absent."""

import os
import shutil
import subprocess
import time
import unittest

from harness import Agent, ConductorTestCase, wait_until
from sim_gpio import SimGpio, sim_chip_config

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
ARM64_AGENT = os.environ.get("EW_ARM64_AGENT", os.path.join(ROOT, "build-arm64/device-agent/edgewire-agent"))
SYSROOT = os.environ.get("EW_ARM64_SYSROOT", os.path.join(ROOT, "build-arm64-sysroot"))
QEMU = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")


def missing():
    if QEMU is None:
        return "qemu-aarch64 is not installed (apt-get install qemu-user-static)"
    if not os.path.isfile(os.path.join(SYSROOT, ".edgewire-sysroot-complete")):
        return f"no arm64 sysroot at {SYSROOT} (deploy/scripts/arm64-sysroot.sh)"
    if not os.access(ARM64_AGENT, os.X_OK):
        return f"no arm64 agent at {ARM64_AGENT} (deploy/scripts/cross-build-arm64.sh)"
    return None


class Arm64AgentTest(ConductorTestCase):
    workdir_prefix = "ew-arm64-"

    def setUp(self):
        reason = missing()
        if reason:
            self.skipTest(reason)
        super().setUp()

    def arm64(self, *args, **kw):
        return [QEMU, "-L", SYSROOT, ARM64_AGENT, *args]

    def test_the_arm64_agent_serves_a_board_under_qemu_user(self):
        described = subprocess.run(["file", ARM64_AGENT], capture_output=True, text=True).stdout
        self.assertIn("ARM aarch64", described)
        version = subprocess.run(self.arm64("version"), capture_output=True, text=True, timeout=60)
        self.assertEqual(version.returncode, 0, version.stderr)
        self.assertIn("edgewire-agent", version.stdout)

        board_id, code = self.conductor.create_board(self.token, "pi-arm64")
        control = os.path.join(self.workdir, "pi-arm64-sim.sock")
        agent = Agent(self.workdir, "pi-arm64", log_level="info", extra_config=sim_chip_config(control))
        enrol = subprocess.run(self.arm64("enrol", "--conductor", self.conductor.url, "--code", code,
                                          "--credential", agent.credential),
                               capture_output=True, text=True, timeout=120)
        self.assertEqual(enrol.returncode, 0, enrol.stdout + enrol.stderr)
        with open(agent.log_path, "a") as log:
            agent.proc = subprocess.Popen(self.arm64("run", "--config", agent.config), stdout=log, stderr=log)
        self.agents["pi-arm64"] = agent
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", timeout=60, what="online")

        status, info = self.rest("POST", f"/v1/boards/{board_id}/calls/sys.info", {})
        self.assertEqual(status, 200, info)
        self.assertEqual(info["kwargs"]["machine"], "aarch64")  # qemu-user reports the guest's uname
        self.assertEqual(info["kwargs"]["boardId"], board_id)
        status, pong = self.rest("POST", f"/v1/boards/{board_id}/calls/sys.ping", {"args": ["from amd64"]})
        self.assertEqual(status, 200, pong)
        self.assertEqual(pong["kwargs"]["boardId"], board_id)

        # GPIO: written through REST, seen by the simulated chip; driven on the chip, read through REST.
        sim = SimGpio.when_ready(control, timeout=30)
        self.addCleanup(sim.close)
        status, body = self.rest("PUT", f"/v1/boards/{board_id}/gpio/GPIO17", {"value": 1})
        self.assertEqual(status, 200, body)
        self.assertEqual(sim.read("GPIO17"), 1)
        sim.drive("GPIO4", 1)
        status, body = self.rest("GET", f"/v1/boards/{board_id}/gpio/GPIO4")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["value"], 1)

        status, logs = self.rest("GET", f"/v1/boards/{board_id}/logs?lines=50")
        self.assertEqual(status, 200, logs)
        self.assertTrue(any("edgewire-agent" in line and board_id in line for line in logs["lines"]), logs)

        # A function, where the host's runtime runs for an emulated agent (it execs the host's runc).
        runtime = info["kwargs"].get("containerRuntime", "")
        if runtime:
            from test_functions import package, sh_spec  # noqa: E402 - only needed here
            status, fn = self.conductor.rest("POST", "/v1/functions", token=self.token,
                                             raw=package(sh_spec("arm64-echo"), {"main.sh": "#!/bin/sh\nread -r e\necho \"{\\\"got\\\": $e}\"\n"}),
                                             content_type="application/gzip")
            self.assertEqual(status, 201, fn)
            status, body = self.rest("POST", f"/v1/functions/{fn['id']}/deployments", {"boardIds": [board_id]})
            self.assertEqual(status, 202, body)

            def deployed():
                _, body = self.rest("GET", f"/v1/functions/{fn['id']}/deployments")
                return any(d["boardId"] == board_id and d["state"] == "deployed" for d in body["deployments"])
            wait_until(deployed, timeout=120, what="deployed")
            status, record = self.rest("POST", f"/v1/functions/{fn['id']}/invocations",
                                       {"boardId": board_id, "event": {"n": 7}})
            self.assertEqual(status, 200, record)
            self.assertEqual(record["output"], {"got": {"n": 7}}, record)

        status, body = self.rest("POST", f"/v1/boards/{board_id}/restart", {})
        self.assertEqual(status, 200, body)
        self.assertEqual(agent.proc.wait(timeout=60), 75)
        agent.proc = None


if __name__ == "__main__":
    unittest.main()
