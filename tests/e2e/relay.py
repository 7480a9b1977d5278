"""A TCP relay from the network namespace's host side to the API server, which can be cut.

The API server listens on 127.0.0.1 only, which a process inside the webhook's network namespace
cannot reach (its loopback is its own). The relay listens on the veth's host address and forwards
each connection to the API server, so the webhook reaches the control plane the way a Pod reaches
the ``kubernetes`` Service. ``cut()`` makes the API server unreachable the way a network partition
does: open connections are torn down, and new ones are accepted but never answered (reads time
out, nothing is refused). ``restore()`` forwards again and drops the connections it held.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class Relay:
    def __init__(self, listen_host: str, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server((listen_host, 0))
        self.address = (listen_host, int(self.server.getsockname()[1]))
        self._cut = False
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []  # forwarded connections, both ends
        self._held: list[socket.socket] = []  # accepted while cut, never answered
        self.accepted = 0
        threading.Thread(target=self._accept, name="relay", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # closed
            with self._lock:
                self.accepted += 1
                if self._cut:
                    self._held.append(client)
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _drop(sockets: list[socket.socket]) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv
            sock.close()
        sockets.clear()

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            self._drop(self._open)

    def restore(self) -> None:
        with self._lock:
            self._cut = False
            self._drop(self._held)

    def close(self) -> None:
        self.server.close()
        with self._lock:
            self._drop(self._open)
            self._drop(self._held)
