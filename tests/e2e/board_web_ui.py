"""A board's own small web UI for tests/e2e/test_board_ui.py, run on the board's loopback: a page
(index.html) that loads a stylesheet and a script by relative links, and a WebSocket echo at ws
(relative too), on Twisted with Autobahn (Debian's python3-autobahn). Prints its port, then serves
until killed. The page shows what the browser got: the script ran, the WebSocket echoed, and
which cookies the board's server saw (the conductor's proxy session must not be among them)."""

import html
import sys

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.static import Data

SCRIPT = b"""
document.getElementById('script').textContent = 'app.js ran';
const ws = new WebSocket(new URL('ws', location.href).href.replace(/^http/, 'ws'));
ws.onopen = () => ws.send('hello from the browser');
ws.onmessage = (e) => { document.getElementById('ws').textContent = 'echo: ' + e.data; };
ws.onerror = () => { document.getElementById('ws').textContent = 'websocket error'; };
"""


class Index(Resource):
    isLeaf = True

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.addCookie(b"board_theme", b"dark", path=b"/")  # the board's own cookie, relative path
        cookies = (request.getHeader("cookie") or "none").encode()
        return b"""<!doctype html><html><head><title>Board UI</title>
<link rel="stylesheet" href="style.css"></head><body>
<h1>Board web UI</h1>
<p>script: <span id="script">not run</span></p>
<p>websocket: <span id="ws">not connected</span></p>
<p>cookies the board saw: <span id="cookies">""" + html.escape(cookies.decode()).encode() + b"""</span></p>
<script src="app.js"></script></body></html>"""


class ServiceWorker(Resource):
    """A service worker script that asks for the whole origin as its scope (a board's page that
    would take over the conductor's origin): the conductor must never let it through."""
    isLeaf = True

    def render_GET(self, request):
        request.setHeader(b"content-type", b"application/javascript")
        request.setHeader(b"service-worker-allowed", b"/")
        return b"self.addEventListener('fetch', () => {});"


class Echo(WebSocketServerProtocol):
    def onMessage(self, payload, is_binary):
        self.sendMessage(payload, is_binary)


def main():
    root = Resource()
    index = Index()
    root.putChild(b"", index)
    root.putChild(b"index.html", index)
    root.putChild(b"app.js", Data(SCRIPT, "application/javascript"))
    root.putChild(b"sw.js", ServiceWorker())
    root.putChild(b"style.css", Data(b"body { font-family: sans-serif; background: #eef; }", "text/css"))
    factory = WebSocketServerFactory()
    factory.protocol = Echo
    root.putChild(b"ws", WebSocketResource(factory))
    port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    reactor.run()


if __name__ == "__main__":
    sys.exit(main())
