"""Issue 16's stretch goal, as a test: Debian 12's arm64 kernel boots on QEMU's Raspberry Pi 3B
machine with the cross-built agent in its initramfs; the agent enrols over TLS (the conductor's
certificate checked against a CA), goes online, answers sys.info (aarch64, "Raspberry Pi 3 Model
B", gpiochip0 on the libgpiod backend with the Pi's line names) and drives the emulated BCM2835
GPIO through the kernel's pinctrl-bcm2835 driver: GPIO17 written and read back. See
tests/integration/raspi3b_board.py. Skips, saying why, without qemu-system-arm, the kernel root,
the sysroot or the cross-built agent (deploy/scripts/test.sh makes all of them)."""

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


if __name__ == "__main__":
    unittest.main()
