#!/usr/bin/python3
"""Calls one WAMP procedure with Autobahn|Python and prints {"args": [...], "kwargs": {...}} or
{"error": uri, "args": [...]} as JSON. Usage: wamp_call.py URL PROCEDURE [ARG] [--msgpack]"""

import asyncio
import json
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import CallResult


def main():
    argv = [a for a in sys.argv[1:] if not a.startswith("--")]
    url, procedure = argv[0], argv[1]
    call_args = argv[2:]
    serializer = MsgPackSerializer() if "--msgpack" in sys.argv else JsonSerializer()
    outcome = {}

    class Caller(ApplicationSession):
        async def onJoin(self, details):
            try:
                result = await self.call(procedure, *call_args)
                if isinstance(result, CallResult):
                    outcome.update(args=list(result.results), kwargs=result.kwresults)
                else:
                    outcome.update(args=[result], kwargs={})
            except ApplicationError as e:
                outcome.update(error=e.error, args=list(e.args), kwargs=e.kwargs)
            self.leave()

        def onDisconnect(self):
            asyncio.get_event_loop().stop()

    ApplicationRunner(url, "edgewire", serializers=[serializer]).run(Caller)
    print(json.dumps(outcome, default=lambda b: b.hex() if isinstance(b, bytes) else str(b)))


if __name__ == "__main__":
    main()
