"""Issue 14, storage faults on the conductor, with real files: a full disk (a small tmpfs), a store
locked by another process, a store whose -shm is truncated under the running conductor, and
`edgewire-conductor backup` while the conductor serves. The conductor must answer 503 with the
reason, write nothing half-way, lose no invocation it answered 202 for, and keep serving."""

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import tempfile
import shutil
import threading
import time
import unittest

from harness import CONDUCTOR, Conductor, cli, wait_until
from test_functions import DOUBLE_SH, package, sh_spec

FULL_MSG = "the disk holding the store is full"
LOCKED_MSG = "the store is locked by another process"


def needs_root(test):
    return unittest.skipUnless(os.geteuid() == 0, "mounting a small tmpfs needs root")(test)


class StoreFaultTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="ew-store-")
        self.mounted = None
        self.conductor = None

    def tearDown(self):
        if not getattr(self._outcome, "success", True) and self.conductor:
            with open(self.conductor.log_path) as f:
                print("==== conductor.log\n" + f.read()[-6000:])
        if self.conductor:
            self.conductor.stop(signal.SIGKILL)
        if self.mounted:
            subprocess.run(["umount", "-l", self.mounted])
        shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self, workdir):
        self.conductor = Conductor(workdir, log_level="info").start()
        self.token = self.conductor.login()
        return self.conductor

    def rest(self, method, path, body=None, **kw):
        return self.conductor.rest(method, path, body, token=self.token, **kw)

    def boards(self):
        status, body = self.rest("GET", "/v1/boards?limit=500")
        self.assertEqual(status, 200, body)
        return {b["name"] for b in body["boards"]}

    def cloud_function(self):
        status, fn = self.rest("POST", "/v1/functions", raw=package(sh_spec("double"), {"main.sh": DOUBLE_SH}), content_type="application/gzip")
        self.assertEqual(status, 201, fn)
        return fn

    @needs_root
    def test_full_disk_answers_503_and_loses_nothing(self):
        disk = os.path.join(self.workdir, "disk")
        os.makedirs(disk)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", disk], check=True)
        self.mounted = disk
        self.start(disk)
        fn = self.cloud_function()
        status, _ = self.rest("POST", f"/v1/functions/{fn['id']}/invocations", {"target": "cloud", "event": {"n": 1}})
        self.assertEqual(status, 200)

        # Fill the disk; dd stops at ENOSPC.
        subprocess.run(["dd", "if=/dev/zero", f"of={disk}/filler", "bs=64k"], capture_output=True)
        created, refused = [], []
        for i in range(400):
            status, body = self.rest("POST", "/v1/boards", {"name": f"full-{i}"})
            if status == 201:
                created.append(f"full-{i}")
                continue
            self.assertEqual(status, 503, body)
            self.assertEqual(body["error"]["code"], "unavailable")
            self.assertIn(FULL_MSG, body["error"]["message"])
            refused.append(f"full-{i}")
            if len(refused) >= 3:
                break
        self.assertTrue(refused, "the disk never filled up")
        self.assertIsNone(self.conductor.proc.poll(), "the conductor is still running")
        self.assertEqual(self.rest("GET", "/healthz")[0], 200)

        # An asynchronous invocation is either recorded or refused, never a 202 without a record.
        accepted = []
        for _ in range(5):
            status, body = self.rest("POST", f"/v1/functions/{fn['id']}/invocations",
                                     {"target": "cloud", "event": {"n": 2}, "async": True})
            if status == 202:
                accepted.append(body["invocationId"])
            else:
                self.assertEqual(status, 503, body)
                self.assertIn("store unavailable", body["error"]["message"])

        # A synchronous invocation: 503, or a 200 whose record is in the history.
        answered = []
        for _ in range(3):
            status, body = self.rest("POST", f"/v1/functions/{fn['id']}/invocations",
                                     {"target": "cloud", "event": {"n": 3}})
            if status == 503:
                self.assertIn("store unavailable", body["error"]["message"])
            else:
                self.assertEqual(status, 200, body)
                answered.append(body["invocationId"])

        with open(self.conductor.log_path) as f:
            self.assertIn(FULL_MSG, f.read())

        os.remove(f"{disk}/filler")
        # Space again: writes work, and what was refused is not there (nothing half-written).
        status, body = self.rest("POST", "/v1/boards", {"name": "after"})
        self.assertEqual(status, 201, body)
        names = self.boards()
        self.assertTrue(set(created) <= names)
        self.assertFalse(set(refused) & names, "a refused board was stored")
        for invocation in accepted + answered:
            status, body = self.rest("GET", f"/v1/functions/{fn['id']}/invocations/{invocation}")
            self.assertEqual(status, 200, f"answered {invocation} but no record: {body}")

    def test_store_locked_by_another_process_answers_503_then_recovers(self):
        conductor = self.start(self.workdir)
        holder = sqlite3.connect(conductor.store, timeout=10, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # the write lock, held until ROLLBACK
        try:
            started = time.monotonic()
            status, body = self.rest("POST", "/v1/boards", {"name": "locked"})
            self.assertEqual(status, 503, body)
            self.assertIn(LOCKED_MSG, body["error"]["message"])
            self.assertGreaterEqual(time.monotonic() - started, 4.0, "the busy timeout (5 s) is waited out first")
            # Reads still work beside the writer (WAL).
            self.assertEqual(self.rest("GET", "/v1/boards")[0], 200)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        status, body = self.rest("POST", "/v1/boards", {"name": "locked"})
        self.assertEqual(status, 201, body)
        self.assertIsNone(conductor.proc.poll())

    def test_damaged_store_answers_503_and_keeps_running(self):
        conductor = self.start(self.workdir)
        for i in range(200):
            self.assertEqual(self.rest("POST", "/v1/boards", {"name": f"b{i}"})[0], 201)
        # The boards table's root page, overwritten on disk under the running conductor.
        db = sqlite3.connect(conductor.store)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'boards'").fetchone()[0]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        db.close()
        with open(conductor.store, "r+b") as f:
            f.seek((root - 1) * page_size)
            f.write(os.urandom(page_size))
        for method, path, body in (("GET", "/v1/boards", None), ("POST", "/v1/boards", {"name": "x"})):
            status, answer = self.rest(method, path, body)
            self.assertEqual(status, 503, answer)
            self.assertIn("store unavailable: the store file is damaged", answer["error"]["message"])
        self.assertEqual(self.rest("GET", "/healthz")[0], 200)
        self.assertIsNone(conductor.proc.poll())

    def test_truncated_shm_answers_503_or_logs_its_sigbus(self):
        conductor = self.start(self.workdir)
        self.assertEqual(self.rest("POST", "/v1/boards", {"name": "before"})[0], 201)
        shm = conductor.store + "-shm"
        self.assertTrue(os.path.exists(shm))
        os.truncate(shm, 0)
        # Every store call checks the -shm first; only a truncation racing a call in flight can
        # still raise SIGBUS, and then the conductor says why it died.
        try:
            self.rest("POST", "/v1/boards", {"name": "after"})
        except OSError:
            pass
        time.sleep(0.5)
        if conductor.proc.poll() is None:
            # The usual outcome: the -shm is checked before every store call.
            status, body = self.rest("GET", "/v1/boards")
            self.assertEqual(status, 503, body)
            self.assertIn(f"{shm} was truncated to 0 bytes", body["error"]["message"])
            conductor.stop()
        else:
            # Something touched the mapping between the truncation and the check: one log line.
            self.assertEqual(conductor.proc.returncode, -signal.SIGBUS)
            with open(conductor.log_path) as f:
                log = f.read()
            self.assertIn("fatal SIGBUS", log)
            self.assertIn(shm, log)
        # Restarted, the store is intact: SQLite rebuilds the -shm.
        conductor.proc = None
        conductor.start()
        self.token = conductor.login()
        self.assertIn("before", self.boards())

    def test_store_calls_keep_sqlite_s_lock_on_the_wal_index(self):
        # SQLite holds a shared lock on the -shm's "dead man switch" byte (offset 128) for as long
        # as a connection uses the WAL index; another process that can lock it exclusively takes
        # itself for the only user and truncates the -shm (a `conductor backup` did, and the
        # conductor died of SIGBUS). POSIX locks are per process: closing any descriptor of the
        # file drops them all, so the conductor must never open the -shm itself (it did, on every
        # store call, to read its flags).
        conductor = self.start(self.workdir)
        for i in range(3):
            self.assertEqual(conductor.rest("POST", "/v1/boards", {"name": f"b{i}"}, self.token)[0], 201)
        fd = os.open(conductor.store + "-shm", os.O_RDWR)
        try:
            with self.assertRaises(OSError, msg="the conductor holds no lock on the WAL index"):
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)
        finally:
            os.close(fd)
        self.assertEqual(conductor.rest("GET", "/v1/boards", token=self.token)[0], 200)

    @needs_root
    def test_immutable_shm_answers_503_then_recovers(self):
        conductor = self.start(self.workdir)
        self.assertEqual(self.rest("POST", "/v1/boards", {"name": "before"})[0], 201)
        shm = conductor.store + "-shm"
        if subprocess.run(["chattr", "+i", shm], capture_output=True).returncode != 0:
            self.skipTest("this file system has no immutable flag (chattr +i)")
        try:
            # A MAP_SHARED page of an immutable file cannot be made writable: SIGBUS if touched.
            for method, path, body in (("POST", "/v1/boards", {"name": "during"}), ("GET", "/v1/boards", None)):
                status, answer = self.rest(method, path, body)
                self.assertEqual(status, 503, answer)
                self.assertIn(f"{shm} was made immutable", answer["error"]["message"])
            self.assertIsNone(conductor.proc.poll(), "no SIGBUS")
        finally:
            subprocess.run(["chattr", "-i", shm])
        self.assertEqual(self.rest("POST", "/v1/boards", {"name": "after"})[0], 201)
        self.assertEqual(self.boards() & {"before", "during", "after"}, {"before", "after"})
        with open(conductor.log_path) as f:
            log = f.read()
        self.assertIn(f"store {shm} was made immutable", log)
        self.assertIn(f"store {shm} is usable again", log)


class BackupTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="ew-backup-")
        self.conductor = Conductor(self.workdir, log_level="info").start()
        self.token = self.conductor.login()

    def tearDown(self):
        self.conductor.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def rest(self, method, path, body=None, **kw):
        return self.conductor.rest(method, path, body, token=self.token, **kw)

    def snapshot(self):
        """What the API shows: boards, users, functions and their invocations."""
        boards = sorted((b["id"], b["name"]) for b in self.rest("GET", "/v1/boards?limit=500")[1]["boards"])
        users = sorted(u["name"] for u in self.rest("GET", "/v1/users")[1]["users"])
        functions = self.rest("GET", "/v1/functions")[1]["functions"]
        invocations = {}
        for fn in functions:
            body = self.rest("GET", f"/v1/functions/{fn['id']}/invocations?limit=500")[1]
            invocations[fn["id"]] = sorted(i["invocationId"] for i in body["invocations"])
        return {"boards": boards, "users": users, "functions": sorted(f["id"] for f in functions),
                "invocations": invocations}

    def backup(self, dest, *extra):
        return subprocess.run([CONDUCTOR, "--config", os.path.join(self.workdir, "conductor.toml"), "backup", dest,
                               *extra], capture_output=True, text=True, timeout=120)

    def test_backup_while_serving_then_restore(self):
        status, fn = self.rest("POST", "/v1/functions", raw=package(sh_spec("double"), {"main.sh": DOUBLE_SH}), content_type="application/gzip")
        self.assertEqual(status, 201, fn)
        for i in range(20):
            self.assertEqual(self.rest("POST", "/v1/boards", {"name": f"pre-{i}"})[0], 201)

        # Writers keep going during the backup.
        stop = threading.Event()
        written = []

        def writer():
            i = 0
            while not stop.is_set():
                status, _ = self.conductor.rest("POST", "/v1/boards", {"name": f"during-{i}"}, token=self.token)
                if status == 201:
                    written.append(f"during-{i}")
                i += 1
        t = threading.Thread(target=writer)
        t.start()
        try:
            time.sleep(0.3)
            dest = os.path.join(self.workdir, "backup.db")
            out = self.backup(dest)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn(f"backed up {self.conductor.store} to {dest}", out.stdout)
            time.sleep(0.3)
        finally:
            stop.set()
            t.join()
        self.assertTrue(written, "writes went on during the backup")

        # The copy is one consistent snapshot: a prefix of the names written during it.
        copy = sqlite3.connect(dest)
        self.assertEqual(copy.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        self.assertEqual(copy.execute("PRAGMA journal_mode").fetchone()[0], "delete")
        names = {r[0] for r in copy.execute("SELECT name FROM boards")}
        copy.close()
        during = [n for n in written if n in names]
        self.assertEqual(during, written[:len(during)], "the copy holds a prefix of the writes, no gaps")
        self.assertTrue({f"pre-{i}" for i in range(20)} <= names)

        # A second backup to the same file needs --force.
        again = self.backup(dest)
        self.assertEqual(again.returncode, 2, again.stderr)
        self.assertIn(f"{dest} exists already", again.stderr)

        # Quiesced: back up, then restore (docs/ARCHITECTURE.md → Backup and restore) and compare.
        final = os.path.join(self.workdir, "final.db")
        self.assertEqual(self.backup(final).returncode, 0)
        before = self.snapshot()
        self.conductor.stop()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.conductor.store + suffix):
                os.remove(self.conductor.store + suffix)
        shutil.copyfile(final, self.conductor.store)
        self.conductor.start()
        self.token = self.conductor.login()
        self.assertEqual(self.snapshot(), before)

    def test_backup_errors_name_the_file(self):
        missing = subprocess.run([CONDUCTOR, "--store", os.path.join(self.workdir, "nope.db"), "backup",
                                  os.path.join(self.workdir, "b.db")], capture_output=True, text=True, timeout=60)
        self.assertEqual(missing.returncode, 1, missing.stderr)
        self.assertIn("no store at", missing.stderr)
        self.assertIn("nope.db", missing.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.workdir, "nope.db")), "a backup never creates a store")
        nodir = self.backup(os.path.join(self.workdir, "no", "such", "dir.db"))
        self.assertEqual(nodir.returncode, 1, nodir.stderr)
        self.assertIn("no directory", nodir.stderr)
        usage = subprocess.run([CONDUCTOR, "backup"], capture_output=True, text=True, timeout=60)
        self.assertEqual(usage.returncode, 2)


if __name__ == "__main__":
    unittest.main()
