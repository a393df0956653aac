#!/usr/bin/python3
"""A small WAMP router for testing edgewire-agent against an independent WAMP stack.

Messages are parsed and built by Autobahn|Python (python3-autobahn), which validates every
field, so a malformed HELLO/AUTHENTICATE/REGISTER/YIELD from the agent fails here. It routes
RPC only (one callee per procedure), authenticates boards with salted WAMP-CRA and anyone
else anonymously, pings every 2 s like the conductor, and takes commands on stdin:

    kick <authid>        send GOODBYE to that session (the conductor ending it)
    interrupt <authid>   send INTERRUPT for a made-up invocation of that session
    ping <authid> <text> send a WebSocket ping with that payload (the conductor's carry its terms)
    mute                 ignore every WAMP message from now on (a wedged router)
    quit                 exit at once (like a killed conductor: no close frames)

It prints "listening <port>" when ready and one line per routing event ("joined ...",
"registered ...", "goodbye ...", "closed ...", "pinged by <authid>") for the test to wait on.
--welcome-heartbeat INTERVAL_MS:TIMEOUT_MS puts the conductor's heartbeat terms in WELCOME
(Details.x_heartbeat); --ping-interval 0 stops the router's own pings.
"""

import argparse
import asyncio
import json
import os
import secrets
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.wamp import auth, message, role
from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer

SERIALIZERS = {"wamp.2.msgpack": MsgPackSerializer, "wamp.2.json": JsonSerializer}


def emit(line):
    print(line, flush=True)


class Router:
    def __init__(self, realm, boards):
        self.realm = realm
        self.boards = boards  # authid -> (secret, salt, iterations, keylen)
        self.sessions = {}  # session id -> protocol
        self.procedures = {}  # uri -> (registration id, protocol)
        self.registrations = {}  # registration id -> uri
        self.pending = {}  # invocation id -> (caller protocol, call request id)
        self.next_id = 1
        self.muted = False
        self.welcome_heartbeat = None  # (interval_ms, timeout_ms) for WELCOME's x_heartbeat

    def new_id(self):
        self.next_id += 1
        return self.next_id

    def by_authid(self, authid):
        for proto in self.sessions.values():
            if proto.authid == authid:
                return proto
        return None

    def drop(self, proto):
        self.sessions.pop(proto.session_id, None)
        for uri in [u for u, (_, p) in self.procedures.items() if p is proto]:
            reg, _ = self.procedures.pop(uri)
            self.registrations.pop(reg, None)
        for inv in [i for i, (p, _) in self.pending.items() if p is proto]:
            self.pending.pop(inv)


class RouterProtocol(WebSocketServerProtocol):
    router = None

    def onConnect(self, request):
        for proto in request.protocols:
            if proto in SERIALIZERS:
                self.serializer = SERIALIZERS[proto]()
                self.subprotocol = proto
                return proto
        raise Exception("no supported WAMP subprotocol in %r" % request.protocols)

    def onOpen(self):
        self.session_id = None
        self.authid = None
        self.expected_signature = None

    def send(self, msg):
        payload, is_binary = self.serializer.serialize(msg)
        self.sendMessage(payload, is_binary)

    def violation(self, text):
        emit("violation %s" % text)
        self.send(message.Abort("wamp.error.protocol_violation", message=text))
        self.sendClose()

    def onMessage(self, payload, is_binary):
        try:
            msgs = self.serializer.unserialize(payload, is_binary)
        except Exception as e:  # noqa: BLE001 - any parse failure is the agent's bug
            return self.violation("unparsable message: %s" % e)
        for msg in msgs:
            self.handle(msg)

    def handle(self, msg):
        r = self.router
        if r.muted:
            emit("ignored %s" % type(msg).__name__)
            return
        if isinstance(msg, message.Hello):
            if msg.realm != r.realm:
                self.send(message.Abort("wamp.error.no_such_realm"))
                return
            if msg.authmethods and "wampcra" in msg.authmethods and msg.authid in r.boards:
                secret, salt, iterations, keylen = r.boards[msg.authid]
                self.authid = msg.authid
                challenge = json.dumps({"authid": msg.authid, "nonce": secrets.token_hex(8), "session": 1})
                extra = {"challenge": challenge}
                if salt and iterations > 1_000_000:
                    # A hostile conductor's CHALLENGE (issue 11): no key is derived here either;
                    # the agent must refuse it without signing.
                    key = b"never-derived"
                    extra.update(salt=salt, iterations=iterations, keylen=keylen)
                elif salt:
                    key = auth.derive_key(secret.encode(), salt.encode(), iterations, keylen)
                    extra.update(salt=salt, iterations=iterations, keylen=keylen)
                else:
                    key = secret.encode()
                self.expected_signature = auth.compute_wcs(key, challenge.encode()).decode()
                self.send(message.Challenge("wampcra", extra))
                return
            if msg.authmethods and "wampcra" in msg.authmethods:
                emit("refused %s" % msg.authid)
                self.send(message.Abort("wamp.error.authentication_failed", message="unknown board"))
                return
            self.authid = msg.authid or "anonymous"
            self.welcome("anonymous")
        elif isinstance(msg, message.Authenticate):
            if msg.signature != self.expected_signature:
                emit("refused %s" % self.authid)
                self.send(message.Abort("wamp.error.authentication_failed", message="wrong signature"))
                return
            self.welcome("wampcra")
        elif self.session_id is None:
            self.violation("%s before WELCOME" % type(msg).__name__)
        elif isinstance(msg, message.Register):
            if msg.procedure in r.procedures:
                self.send(message.Error(message.Register.MESSAGE_TYPE, msg.request,
                                        "wamp.error.procedure_already_exists"))
                return
            reg = r.new_id()
            r.procedures[msg.procedure] = (reg, self)
            r.registrations[reg] = msg.procedure
            self.send(message.Registered(msg.request, reg))
            emit("registered %s" % msg.procedure)
        elif isinstance(msg, message.Subscribe):
            # Subscriptions are acknowledged (the agent makes some in every session); this
            # router publishes nothing.
            self.send(message.Subscribed(msg.request, r.new_id()))
            emit("subscribed %s" % msg.topic)
        elif isinstance(msg, message.Publish):
            emit("published %s" % msg.topic)
        elif isinstance(msg, message.Call):
            if msg.procedure not in r.procedures:
                self.send(message.Error(message.Call.MESSAGE_TYPE, msg.request, "wamp.error.no_such_procedure"))
                return
            reg, callee = r.procedures[msg.procedure]
            inv = r.new_id()
            r.pending[inv] = (self, msg.request)
            callee.send(message.Invocation(inv, reg, args=msg.args, kwargs=msg.kwargs))
        elif isinstance(msg, message.Yield):
            caller, request = r.pending.pop(msg.request, (None, None))
            if caller is None:
                emit("late-yield %d" % msg.request)
                return
            caller.send(message.Result(request, args=msg.args, kwargs=msg.kwargs))
        elif isinstance(msg, message.Error) and msg.request_type == message.Invocation.MESSAGE_TYPE:
            emit("invocation-error %s" % msg.error)
            caller, request = r.pending.pop(msg.request, (None, None))
            if caller is not None:
                caller.send(message.Error(message.Call.MESSAGE_TYPE, request, msg.error, args=msg.args,
                                          kwargs=msg.kwargs))
        elif isinstance(msg, message.Goodbye):
            emit("goodbye %s %s" % (self.authid, msg.reason))
            if not getattr(self, "kicked", False):
                self.send(message.Goodbye("wamp.close.goodbye_and_out"))
            r.drop(self)
            self.session_id = None
            self.sendClose(1000)
        else:
            self.violation("unexpected %s" % type(msg).__name__)

    def welcome(self, authmethod):
        r = self.router
        self.session_id = r.new_id()
        r.sessions[self.session_id] = self
        roles = {"broker": role.RoleBrokerFeatures(), "dealer": role.RoleDealerFeatures()}
        custom = None
        if r.welcome_heartbeat is not None:
            custom = {"x_heartbeat": {"interval_ms": r.welcome_heartbeat[0], "timeout_ms": r.welcome_heartbeat[1]}}
        self.send(message.Welcome(self.session_id, roles, authid=self.authid, authrole="board",
                                  authmethod=authmethod, custom=custom))
        emit("joined %s %s %d" % (self.authid, self.subprotocol, self.session_id))

    def onPing(self, payload):
        emit("pinged by %s" % getattr(self, "authid", None))
        super().onPing(payload)

    def onClose(self, was_clean, code, reason):
        if self.router is not None and getattr(self, "session_id", None) is not None:
            self.router.drop(self)
        emit("closed %s clean=%s code=%s" % (getattr(self, "authid", None), was_clean, code))


async def commands(router):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().split()
        if not line:
            if reader.at_eof():
                os._exit(0)
            continue
        if line[0] == "quit":
            os._exit(0)  # no close frames, no FIN handshake courtesy: like kill -9
        if line[0] == "mute":
            router.muted = True
            emit("muted")
            continue
        proto = router.by_authid(line[1]) if len(line) > 1 else None
        if proto is None:
            emit("error no session for %s" % line[1:])
        elif line[0] == "kick":
            proto.kicked = True
            proto.send(message.Goodbye("wamp.close.system_shutdown", message="test kick"))
            emit("kicked %s" % line[1])
        elif line[0] == "ping":
            proto.sendPing(" ".join(line[2:]).encode())
            emit("sent ping %s" % line[1])
        elif line[0] == "interrupt":
            proto.send(message.Interrupt(12345, mode="kill"))
            emit("interrupted %s" % line[1])
        elif line[0] == "raw":  # raw <authid> <hex bytes, or - for none>: one binary frame as given
            proto.sendMessage(bytes.fromhex("" if line[2] == "-" else line[2]), True)
            emit("sent raw %s" % line[1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--realm", default="edgewire")
    parser.add_argument("--board", action="append", default=[],
                        help="authid:secret:salt:iterations:keylen (salt may be empty)")
    parser.add_argument("--ping-interval", type=float, default=2.0)
    parser.add_argument("--welcome-heartbeat", default=None, help="INTERVAL_MS:TIMEOUT_MS for WELCOME's x_heartbeat")
    args = parser.parse_args()

    boards = {}
    for spec in args.board:
        authid, secret, salt, iterations, keylen = spec.split(":")
        boards[authid] = (secret, salt, int(iterations), int(keylen))
    RouterProtocol.router = Router(args.realm, boards)
    if args.welcome_heartbeat:
        RouterProtocol.router.welcome_heartbeat = tuple(int(v) for v in args.welcome_heartbeat.split(":"))

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    txaio.config.loop = loop
    factory = WebSocketServerFactory("ws://127.0.0.1/ws", loop=loop)  # the URL only names the path
    factory.protocol = RouterProtocol
    factory.setProtocolOptions(autoPingInterval=args.ping_interval, autoPingTimeout=2 * args.ping_interval)
    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", args.port))
    emit("listening %d" % server.sockets[0].getsockname()[1])
    command_task = loop.create_task(commands(RouterProtocol.router))  # noqa: F841 - keep a reference
    loop.run_forever()


if __name__ == "__main__":
    main()
