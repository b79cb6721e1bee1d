"""pyvr_jupyter's Jupyter server extension: the server writes kernel messages to the browser
without Nagle's delay (TCP_NODELAY on each kernel websocket).

Why: jupyter_server leaves Nagle's algorithm on for the kernel websocket. After the kernel's
small "busy" status, every further write shorter than one TCP segment waits for the browser's
ACK, which the browser delays by up to 40 ms. On 127.0.0.1 a segment is 64 KB, so a 50 KB slice
PNG (an axial CT slice) waited behind the busy status, while a sagittal or coronal one over
64 KB went at once: in ``viewer(ct, slices=True)`` an axial slider step took 63-75 ms against
45-60 ms. With TCP_NODELAY every axis takes the same (docs/large_volumes.md).

It changes nothing but that socket option on kernel websockets, whatever connection class the
server uses (its own, or a gateway's). Installed with pyvr_jupyter, it is enabled by
``etc/jupyter/jupyter_server_config.d/pyvr_jupyter.json``; a server in another environment enables
it with ``--ServerApp.jpserver_extensions="{'pyvr_jupyter_server': True}"`` (pyvr_jupyter
installed there too). It imports neither torch nor the widgets.
"""

from __future__ import annotations

__all__ = ["nodelay_connection_class"]


def _jupyter_server_extension_points():
    return [{"module": "pyvr_jupyter_server"}]


def nodelay_connection_class(base: type) -> type:
    """A subclass of the kernel websocket connection class ``base`` that turns Nagle's algorithm
    off on its websocket when it connects (``base`` itself when it already does).

    Example: ``settings["kernel_websocket_connection_class"] = nodelay_connection_class(base)``"""
    if getattr(base, "_pyvr_nodelay", False):
        return base

    def connect(self, *args, **kwargs):
        try:
            self.websocket_handler.set_nodelay(True)
        except Exception as err:  # a closed socket, or a handler without one: send as before
            self.log.debug("pyvr_jupyter_server: TCP_NODELAY not set: %s", err)
        return super(cls, self).connect(*args, **kwargs)

    cls = type(base.__name__, (base,), {"connect": connect, "_pyvr_nodelay": True,
                                        "__module__": __name__, "__doc__": base.__doc__})
    return cls


def _load_jupyter_server_extension(serverapp) -> None:
    settings = serverapp.web_app.settings
    base = settings.get("kernel_websocket_connection_class")
    if base is None:
        serverapp.log.warning("pyvr_jupyter_server: no kernel websocket connection class; nothing changed")
        return
    settings["kernel_websocket_connection_class"] = nodelay_connection_class(base)
    serverapp.log.info("pyvr_jupyter_server: kernel websockets send without Nagle's delay (TCP_NODELAY)")
