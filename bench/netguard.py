"""Enforce the benchmark's promise: no connection leaves this machine.

Every section runs in-process against stubs or moto, so nothing should connect at all; if a
stub is missed, this turns a silent call to real AWS into an immediate, named failure.
"""

from __future__ import annotations

import socket
from typing import Any

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class RemoteConnectionBlocked(OSError):
    pass


def forbid_remote_connections() -> None:
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        _check(address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(address)
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]


def _check(address: Any) -> None:
    # AF_UNIX addresses are paths (str/bytes); AF_INET/AF_INET6 ones are (host, port, ...).
    if isinstance(address, tuple) and address[0] not in _LOOPBACK:
        raise RemoteConnectionBlocked(f"bench: blocked a connection to {address[0]}:{address[1]}")
