"""Issue 16's stretch goal, as a test: Debian 12's arm64 kernel boots on QEMU's Raspberry Pi 3B
machine with the cross-built agent in its initramfs; the agent enrols over TLS (the conductor's
certificate checked against a CA), goes online, answers sys.info (aarch64, "Raspberry Pi 3 Model
B", gpiochip0 on the libgpiod backend with the Pi's line names) and drives the emulated BCM2835
GPIO through the kernel's pinctrl-bcm2835 driver: GPIO17 written and read back. The cross-built
libgpiod backend tests run in the same guest against that chip. See
tests/integration/raspi3b_board.py. Skips, saying why, without qemu-system-arm, the kernel root,
the sysroot or the cross-built agent (deploy/scripts/test.sh makes all of them)."""

import os
import re
import unittest

import raspi3b_board


class Raspi3bBoardTest(unittest.TestCase):
    def test_the_agent_runs_a_board_on_an_emulated_raspberry_pi_3b(self):
        reason = raspi3b_board.missing()
        if reason:
            self.skipTest(reason)
        lines = []
        outcome = raspi3b_board.boot_and_check(timeout=240, say=lines.append)
        report = "\n".join(lines)
        if not outcome.ok:
            tail = "\n".join(outcome.console.splitlines()[-60:])
            self.fail(f"{outcome.error}\nsteps:\n{report}\nconsole tail:\n{tail}")
        print(report)
        self.assertEqual(outcome.facts["transport"], "wss")
        self.assertEqual(outcome.facts["model"], "Raspberry Pi 3 Model B")
        self.assertEqual(outcome.facts["sysinfo"]["hardware"], "Raspberry Pi 3 Model B")
        self.assertEqual(outcome.facts["gpio17"]["value"], 0)

    def test_the_libgpiod_backend_passes_its_hardware_tests_on_the_emulated_bcm2835(self):
        # agent_gpiod_chip_test skips its hardware cases on this host (no /dev/gpiochip*); in the
        # guest they run against the kernel's pinctrl-bcm2835 chip. Only the loopback cases skip
        # there: they need two lines wired together, which QEMU's GPIO model cannot do.
        reason = raspi3b_board.missing()
        if reason:
            self.skipTest(reason)
        program = raspi3b_board.ARM64_GPIOD_TEST
        if not os.access(program, os.X_OK):
            self.skipTest(f"no cross-built {program} (deploy/scripts/cross-build-arm64.sh)")
        status, console = raspi3b_board.run_guest_test(program)
        gtest = "\n".join(line for line in console.splitlines() if line.startswith("[") and "]" in line[:14])
        self.assertEqual(status, 0, console[-6000:])
        hardware_ok = re.findall(r"^\[       OK \] GpiodChipHardwareTest\.(\w+)", console, re.M)
        self.assertEqual(len(hardware_ok), 4, gtest)
        self.assertNotIn("FAILED", gtest)
        print(gtest)


if __name__ == "__main__":
    unittest.main()
