"""pyvr_jupyter_server: the server extension that turns Nagle's algorithm off on kernel websockets
(a sub-segment slice PNG waited up to 40 ms for the browser's delayed ACK; docs/large_volumes.md)."""

import json
import subprocess
import sys
from pathlib import Path

import pyvr_jupyter_server as ext

ROOT = Path(__file__).resolve().parents[1]


class Handler:
    def __init__(self, fail=False):
        self.nodelay, self.fail = None, fail

    def set_nodelay(self, value):
        if self.fail:
            raise AssertionError("the websocket is closed")
        self.nodelay = value


class Log:
    def __init__(self):
        self.lines = []

    def debug(self, *args):
        self.lines.append(args)

    info = warning = debug


class Connection:
    """Stands for jupyter_server's ZMQChannelsWebsocketConnection (or a gateway's)."""

    def __init__(self, handler):
        self.websocket_handler, self.log, self.connected = handler, Log(), False

    async def connect(self):
        self.connected = True
        return "connected"


def finish(coroutine):
    """The result of a coroutine that never waits (``asyncio.run`` refuses to run inside the
    event loop other tests of the suite leave running)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the coroutine waited")


def test_the_connection_sets_nodelay_before_it_connects():
    cls = ext.nodelay_connection_class(Connection)
    assert issubclass(cls, Connection) and cls.__name__ == "Connection"
    handler = Handler()
    connection = cls(handler)
    assert finish(connection.connect()) == "connected"
    assert handler.nodelay is True and connection.connected
    assert ext.nodelay_connection_class(cls) is cls  # wrapped once


def test_a_socket_that_refuses_still_connects():
    connection = ext.nodelay_connection_class(Connection)(Handler(fail=True))
    assert finish(connection.connect()) == "connected"
    assert connection.log.lines  # said why, at debug level


def test_loading_wraps_the_servers_connection_class():
    class App:
        log = Log()

        class web_app:
            settings = {"kernel_websocket_connection_class": Connection}

    ext._load_jupyter_server_extension(App)
    wrapped = App.web_app.settings["kernel_websocket_connection_class"]
    assert issubclass(wrapped, Connection) and wrapped._pyvr_nodelay
    ext._load_jupyter_server_extension(App)  # loaded twice: still one wrapper
    assert App.web_app.settings["kernel_websocket_connection_class"] is wrapped
    assert ext._jupyter_server_extension_points() == [{"module": "pyvr_jupyter_server"}]


def test_the_jupyter_server_class_is_wrapped_and_nothing_heavy_loads():
    code = ("import sys, json, pyvr_jupyter_server as e\n"
            "from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection as C\n"
            "w = e.nodelay_connection_class(C)\n"
            "print(json.dumps([issubclass(w, C), 'connect' in vars(w), 'torch' in sys.modules, 'pyvr_jupyter' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, True, False, False]

