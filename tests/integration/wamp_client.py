"""A WAMP client for tests: Debian's python3-autobahn (an independent implementation) on
asyncio, with ticket or WAMP-CRA authentication and a choice of serializer."""

import asyncio
import ssl
from urllib.parse import urlparse

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import auth, types
from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer


class _Session(ApplicationSession):
    def __init__(self, config, creds, joined, left):
        super().__init__(config)
        self._creds = creds
        self._joined = joined
        self._left = left

    def onConnect(self):
        self.join(self.config.realm, authmethods=[self._creds["method"]], authid=self._creds.get("authid"))

    def onChallenge(self, challenge):
        if challenge.method == "ticket":
            return self._creds["ticket"]
        if challenge.method == "wampcra":
            extra = challenge.extra
            key = auth.derive_key(self._creds["secret"], extra["salt"], extra["iterations"], extra["keylen"])
            return auth.compute_wcs(key, extra["challenge"])
        raise Exception(f"unexpected challenge {challenge.method}")

    def onJoin(self, details):
        if not self._joined.done():
            self._joined.set_result(details)

    def onLeave(self, details):
        if not self._joined.done():
            self._joined.set_exception(RuntimeError(f"{details.reason}: {details.message}"))
        if not self._left.done():
            self._left.set_result(details)
        self.disconnect()


async def connect(ws_url, creds, serializer="json", timeout=10, ssl_context=None):
    """creds: {"method": "ticket", "ticket": TOKEN} or {"method": "wampcra", "authid": ID, "secret": S}.
    A wss:// URL is dialled with TLS: `ssl_context` (an ssl.SSLContext, e.g. one trusting the test's
    CA), else the default context (system CAs, host name checked).
    Returns the joined session; raises RuntimeError with the ABORT reason when refused, and
    ssl.SSLCertVerificationError when the conductor's certificate is not trusted."""
    loop = asyncio.get_running_loop()
    joined = loop.create_future()
    left = loop.create_future()
    holder = {}

    def make():
        session = _Session(types.ComponentConfig(realm="edgewire"), creds, joined, left)
        holder["session"] = session
        return session

    ser = JsonSerializer() if serializer == "json" else MsgPackSerializer()
    factory = WampWebSocketClientFactory(make, url=ws_url, serializers=[ser])
    parsed = urlparse(ws_url)
    if parsed.scheme == "wss":
        context = ssl_context or ssl.create_default_context()
        await loop.create_connection(factory, parsed.hostname, parsed.port or 443, ssl=context,
                                     server_hostname=parsed.hostname)
    else:
        await loop.create_connection(factory, parsed.hostname, parsed.port or 80)
    await asyncio.wait_for(joined, timeout)
    session = holder["session"]
    session.left_future = left
    return session


BOARD_READY = "ew.conductor.board.ready"


async def board_ready(session):
    """What the agent does once its procedures are registered (issue 14): the conductor counts a
    board as online, calls it and resyncs it only from this call on. A test acting as a board
    calls it after its registrations; without it the board comes online after the router's grace."""
    await session.call(BOARD_READY)
