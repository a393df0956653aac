"""The conductor's network edge with the real binary on 127.0.0.1: HTTPS and WSS with a CA this
test makes with the openssl CLI, SIGHUP picking up a renewed certificate (and keeping the old one
when the new one is bad), plain HTTP refused off loopback, and the REST limits that apply before
authentication: 401 on the headers without the body being read, 413 from Content-Length, and a
2 MiB package sent with Content-Length accepted (issue 11)."""

import asyncio
import io
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tarfile
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import harness
import wamp_client
from harness import ADMIN_PASSWORD, CONDUCTOR, ConductorTestCase, wait_until
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import types
from autobahn.wamp.serializer import JsonSerializer


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(dir, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
            "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=dir)
    return os.path.join(dir, f"{name}.crt")


def issue(dir, ca, name):
    """A server certificate for localhost / 127.0.0.1 signed by `ca`; returns (cert, key) paths."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=dir)
    with open(os.path.join(dir, f"{name}.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "30", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=dir)
    return os.path.join(dir, f"{name}.crt"), os.path.join(dir, f"{name}.key")


def client_context(ca_file):
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.check_hostname = True
    return ctx


def https(port, path, ca_file, method="GET", body=None, token=None):
    req = urllib.request.Request(f"https://localhost:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=10, context=client_context(ca_file)) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def verifies(port, ca_file):
    """True when a TLS client trusting `ca_file` completes a handshake with the conductor."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with client_context(ca_file).wrap_socket(raw, server_hostname="localhost"):
                return True
    except ssl.SSLCertVerificationError:
        return False


async def wss_join(port, ca_file, token):
    """Joins realm edgewire over wss:// with a ticket; returns the WELCOME details."""
    loop = asyncio.get_running_loop()
    joined, left = loop.create_future(), loop.create_future()
    holder = {}

    def make():
        holder["s"] = wamp_client._Session(types.ComponentConfig(realm="edgewire"),
                                           {"method": "ticket", "ticket": token}, joined, left)
        return holder["s"]

    factory = WampWebSocketClientFactory(make, url=f"wss://localhost:{port}/ws", serializers=[JsonSerializer()])
    await loop.create_connection(factory, "127.0.0.1", port, ssl=client_context(ca_file), server_hostname="localhost")
    details = await asyncio.wait_for(joined, 10)
    holder["s"].leave()
    return details


class ConductorTlsTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="ew-tls-")
        self.proc = None
        self.ca1 = make_ca(self.workdir, "ca1")
        self.ca2 = make_ca(self.workdir, "ca2")
        self.cert = os.path.join(self.workdir, "conductor.crt")
        self.key = os.path.join(self.workdir, "conductor.key")
        self.install(*issue(self.workdir, "ca1", "first"))

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def install(self, cert, key):
        shutil.copyfile(cert, self.cert)
        shutil.copyfile(key, self.key)

    def log(self):
        with open(os.path.join(self.workdir, "conductor.log")) as f:
            return f.read()

    def start(self, listen="127.0.0.1", tls=True):
        pw_file = os.path.join(self.workdir, "pw.txt")
        with open(pw_file, "w") as f:
            f.write(ADMIN_PASSWORD + "\n")
        config = os.path.join(self.workdir, "conductor.toml")
        with open(config, "w") as f:
            f.write(f'[server]\nlisten_address = "{listen}"\nport = 0\n')
            if tls:
                f.write(f'tls_cert = "{self.cert}"\ntls_key = "{self.key}"\n')
            f.write(f'[store]\npath = "{self.workdir}/c.db"\n[auth]\nbootstrap_password_file = "{pw_file}"\n')
        with open(os.path.join(self.workdir, "conductor.log"), "a") as log:
            self.proc = subprocess.Popen([CONDUCTOR, "--config", config], stdout=subprocess.PIPE, stderr=log,
                                         text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.wait(10)
            return None
        return int(line.strip().rsplit(":", 1)[1])

    def test_https_and_wss_verify_against_the_ca_and_sighup_renews(self):
        port = self.start()
        self.assertIsNotNone(port, self.log())
        wait_until(lambda: verifies(port, self.ca1), what="TLS handshake")
        self.assertEqual(https(port, "/healthz", self.ca1)[0], 200)
        status, body = https(port, "/v1/auth/tokens", self.ca1, "POST", {"username": "admin", "password": ADMIN_PASSWORD})
        self.assertEqual(status, 201, body)
        token = body["token"]
        details = asyncio.run(wss_join(port, self.ca1, token))
        self.assertEqual(details.realm, "edgewire")
        self.assertFalse(verifies(port, self.ca2), "a client trusting another CA must refuse the conductor")

        # Renewal: a certificate from another CA, then SIGHUP.
        self.install(*issue(self.workdir, "ca2", "second"))
        self.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: verifies(port, self.ca2), what="the renewed certificate")
        self.assertFalse(verifies(port, self.ca1))
        self.assertIn("TLS certificate reloaded", self.log())

        # A broken file on reload: logged, and the conductor keeps serving the certificate it has.
        with open(self.cert, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
        self.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "TLS reload failed" in self.log(), what="the failed reload in the log")
        self.assertTrue(verifies(port, self.ca2))
        self.assertEqual(https(port, "/healthz", self.ca2)[0], 200)
        self.assertIsNone(self.proc.poll())

    def test_plain_http_off_loopback_is_refused_at_start(self):
        port = self.start(listen="0.0.0.0", tls=False)
        self.assertIsNone(port)
        self.assertNotEqual(self.proc.returncode, 0)
        log = self.log()
        self.assertIn("tls_cert", log)
        self.assertIn("allow_plain", log)


def raw_request(port, head, body=b"", within=5.0):
    """Sends `head` (and `body`) on a new connection; returns (status, json body, seconds to answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=within) as s:
        start = time.monotonic()
        s.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        header, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in header.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        return int(header.split(b" ", 2)[1]), json.loads(rest[:length] or b"null"), time.monotonic() - start


class RestLimitsTest(ConductorTestCase):
    def test_bad_or_missing_token_is_401_before_a_10mb_body_is_read(self):
        port = self.conductor.port
        for token_header in ("X-Auth-Token: ewt_wrong\r\n", ""):
            head = ("POST /v1/functions HTTP/1.1\r\nHost: x\r\nContent-Type: application/gzip\r\n" + token_header +
                    "Content-Length: 10000000\r\n\r\n")
            status, body, seconds = raw_request(port, head)  # not a byte of the body is sent
            self.assertEqual(status, 401, body)
            self.assertEqual(body["error"]["code"], "unauthenticated")
            self.assertLess(seconds, 2.0)

    def test_content_length_over_the_route_limit_is_413_resource_exhausted(self):
        head = (f"POST /v1/boards HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {self.token}\r\n"
                "Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n")
        status, body, _ = raw_request(self.conductor.port, head)
        self.assertEqual(status, 413, body)
        self.assertEqual(body["error"]["code"], "resource_exhausted")

    def test_issue11_a_two_mib_package_with_content_length_is_accepted(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            files = {
                "function.json": json.dumps({"name": "big", "version": "1.0.0", "runtime": "sh",
                                             "entrypoint": "main.sh", "timeoutMs": 10000}).encode(),
                "main.sh": b"#!/bin/sh\necho '{}'\n",
                "blob.bin": os.urandom(2 << 20),  # incompressible: the upload stays over 2 MiB
            }
            for path, data in files.items():
                info = tarfile.TarInfo(path)
                info.size = len(data)
                info.mode = 0o755
                tar.addfile(info, io.BytesIO(data))
        package = buf.getvalue()
        self.assertGreater(len(package), 2 << 20)
        status, body = self.conductor.rest("POST", "/v1/functions", raw=package, token=self.token,
                                           content_type="application/gzip")
        self.assertEqual(status, 201, body)
        self.assertEqual(body["name"], "big")


if __name__ == "__main__":
    unittest.main()
