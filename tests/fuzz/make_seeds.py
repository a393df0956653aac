#!/usr/bin/python3
"""Writes the binary seed corpora of tests/fuzz (the text ones are plain files in corpus/):

  corpus/wamp_codec_msgpack/  every corpus/wamp_codec_json/ seed in msgpack, plus bin/ext/float32
  corpus/package/             one flag byte + a tar stream (bit 0 clear) or a .tar.gz (bit 0 set);
                              bit 1 asks package_fuzz to extract (see package_fuzz.cpp)

Deterministic (mtime 0, no owner names, gzip without a timestamp), so rerunning it changes nothing.
Needs python3-msgpack: run it with /usr/bin/python3 on Debian.
"""
import base64
import gzip
import io
import json
import pathlib
import tarfile

import msgpack

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

RAW_GZIP = 1
EXTRACT = 2


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# --- WAMP msgpack ---------------------------------------------------------------------------

def json_binary_to_bytes(value):
    """WAMP JSON carries binary as "\\0<base64>"; msgpack carries it as bin."""
    if isinstance(value, str) and value.startswith("\0"):
        try:
            return base64.b64decode(value[1:], validate=True)
        except ValueError:
            return value
    if isinstance(value, list):
        return [json_binary_to_bytes(v) for v in value]
    if isinstance(value, dict):
        return {k: json_binary_to_bytes(v) for k, v in value.items()}
    return value


def wamp_msgpack():
    out = CORPUS / "wamp_codec_msgpack"
    for seed in sorted((CORPUS / "wamp_codec_json").iterdir()):
        message = json_binary_to_bytes(json.loads(seed.read_text()))
        write(out / (seed.stem + ".msgpack"), msgpack.packb(message, use_bin_type=True))
    extra = {
        "call_ext.msgpack": msgpack.packb([48, 11, {}, "p", [msgpack.ExtType(5, b"\x01\x02")]]),
        "yield_float32.msgpack": msgpack.packb([70, 12, {}, [1.5, -0.0]], use_single_float=True),
        "publish_str8.msgpack": msgpack.packb([16, 13, {}, "t" * 40, ["x" * 300]], use_bin_type=True),
        "event_map16.msgpack": msgpack.packb([36, 1, 2, {}, [], {str(i): i for i in range(20)}]),
    }
    for name, data in extra.items():
        write(out / name, data)


# --- packages -------------------------------------------------------------------------------

def tar_bytes(entries, fmt=tarfile.USTAR_FORMAT):
    """entries: (name, kind, data_or_target, mode). The stream ends after the end-of-archive
    blocks, without tarfile's padding to 10 KiB (seeds stay small)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for name, kind, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.mode = mode
            info.type = kind
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                    info.linkname = data
                tar.addfile(info)
        end = tar.offset
    return buffer.getvalue()[: end + 1024]


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def spec(entrypoint="main.sh", **more):
    doc = {"name": "hello", "version": "1.0.0", "runtime": "sh", "entrypoint": entrypoint}
    doc.update(more)
    return json.dumps(doc).encode()


def f(name, data, mode=0o644):
    return (name, tarfile.REGTYPE, data, mode)


def d(name):
    return (name, tarfile.DIRTYPE, None, 0o755)


SCRIPT = b"#!/bin/sh\necho hello\n"


def packages():
    out = CORPUS / "package"
    minimal = [f("function.json", spec()), f("main.sh", SCRIPT, 0o755)]
    seeds = {
        "minimal.tar": (EXTRACT, tar_bytes(minimal)),
        "minimal.tar.gz": (RAW_GZIP | EXTRACT, gz(tar_bytes(minimal))),
        "dot_prefix.tar": (EXTRACT, tar_bytes([d("./"), f("./function.json", spec()), f("./main.sh", SCRIPT, 0o755)])),
        "subdirs.tar": (EXTRACT, tar_bytes([
            d("src/"), d("bin/"),
            f("function.json", spec("src/main.py", runtime="python3", implementations=[
                {"arch": "aarch64", "runtime": "native", "entrypoint": "bin/app-arm64"}])),
            f("src/main.py", b"print('hi')\n"), f("bin/app-arm64", b"\x7fELF", 0o755),
            f("src/lib/util.py", b"X = 1\n")])),
        "pax_long_name.tar": (EXTRACT, tar_bytes(
            [f("function.json", spec("a" * 60 + "/" + "b" * 60 + "/run.sh")),
             f("a" * 60 + "/" + "b" * 60 + "/run.sh", SCRIPT, 0o755)], tarfile.PAX_FORMAT)),
        "gnu_long_name.tar": (EXTRACT, tar_bytes(
            [f("function.json", spec("c" * 150)), f("c" * 150, SCRIPT, 0o4755)], tarfile.GNU_FORMAT)),
        "symlink.tar": (EXTRACT, tar_bytes(minimal + [("link", tarfile.SYMTYPE, "/etc/passwd", 0o777)])),
        "hardlink.tar": (EXTRACT, tar_bytes(minimal + [("hard", tarfile.LNKTYPE, "main.sh", 0o644)])),
        "fifo.tar": (0, tar_bytes(minimal + [("pipe", tarfile.FIFOTYPE, None, 0o644)])),
        "dotdot.tar": (0, tar_bytes(minimal + [f("../evil", b"x")])),
        "absolute.tar": (0, tar_bytes(minimal + [f("/tmp/evil", b"x")])),
        "duplicate.tar": (0, tar_bytes(minimal + [f("function.json", spec())])),
        "below_file.tar": (0, tar_bytes(minimal + [f("main.sh/x", b"x")])),
        "no_manifest.tar": (0, tar_bytes([f("main.sh", SCRIPT)])),
        "missing_entrypoint.tar": (0, tar_bytes([f("function.json", spec("nope.sh"))])),
        "truncated.tar.gz": (RAW_GZIP, gz(tar_bytes(minimal))[:-9]),
        "trailing_data.tar.gz": (RAW_GZIP, gz(tar_bytes(minimal)) + b"junk"),
        "not_gzip.tar.gz": (RAW_GZIP, tar_bytes(minimal)),
    }
    for name, (flags, data) in seeds.items():
        write(out / name, bytes([flags]) + data)


if __name__ == "__main__":
    wamp_msgpack()
    packages()
