"""A TCP proxy in front of PostgreSQL that can be cut and restored: a database server
that goes away (a restart, a network cut) and comes back, for the process under test,
without touching the real server that other tests share."""

from __future__ import annotations

import contextlib
import random
import socket
import threading


class Outage:
    """Listens on 127.0.0.1:`port` and forwards to (host, port) of the server."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.port = 0
        self.up()

    def up(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.port:
            listener.bind(("127.0.0.1", self.port))  # the same port again after a cut
        else:
            _bind_below_ephemeral(listener)
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and break every open one, as a stopped server would."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, []
        if listener is not None:
            # Shut down first: close() alone leaves the socket listening for as long as
            # the accepting thread sits in accept() (the call holds it open), and the
            # port could not be bound again when the server "comes back".
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    server.close()
                    return
                self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _bind_below_ephemeral(listener: socket.socket) -> None:
    """A free port below the system's ephemeral range. A port the system picked (bind to
    0) is free again once a cut closes the listener, and the next outgoing connection
    (the worker's own, retrying) may get it as its source port: then the port cannot be
    bound again ("Address already in use"). The system never picks one below its range."""
    candidates = list(range(20_000, 30_000))
    random.shuffle(candidates)
    for port in candidates:
        try:
            listener.bind(("127.0.0.1", port))
            return
        except OSError:
            continue
    raise OSError("no free port between 20000 and 30000")
