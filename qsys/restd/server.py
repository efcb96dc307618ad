"""qsys-restd's listeners: uvicorn on a Unix socket and (when configured) one TCP address.

uvicorn serves sockets restd binds itself. Its HTTP protocol is subclassed only to learn, at
``connection_made``, who is at the other end: on the Unix socket the kernel's SO_PEERCRED
uid. That fact goes into the connection's copy of the ASGI ``state``, which uvicorn puts in
the scope of every request on that connection; TCP connections carry no uid, so their
requests must bring a token (``qsys.restd.identity``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from qsys import auth
from qsys.paths import Cell
from qsys.restd.identity import PEER_STATE
from qsys.restd.settings import Settings


class PeerProtocol(H11Protocol):
    """uvicorn's h11 protocol, plus the peer's transport and (Unix socket) uid per connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        peer: dict[str, Any] = {"transport": "tcp"}
        if sock is not None and sock.family == socket.AF_UNIX:
            _pid, uid, _gid = auth.peer_credentials(sock)
            peer = {"transport": "unix", "uid": uid}
        self.app_state = {**self.app_state, PEER_STATE: peer}


def unix_listener(path: Path, mode: int) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, mode)
    sock.listen(128)
    return sock


def tcp_listener(bind: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((bind, port))
    sock.listen(128)
    return sock


def http_address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Server(uvicorn.Server):
    """uvicorn's server, tidying restd's files as it shuts down: uvicorn raises the signal
    that stopped it again once it is done, so nothing after ``run`` would get to."""

    def __init__(self, config: uvicorn.Config, leftovers: list[Path]) -> None:
        super().__init__(config)
        self.leftovers = leftovers

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        for path in self.leftovers:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        logging.getLogger("qsys.restd").info("qsys-restd stopped")


def serve(app: Any, cell: Cell, settings: Settings, pid_file: Path) -> None:
    """Bind, write where restd listens (``spool/restd/address``), serve until SIGTERM/SIGINT."""
    # anyone may connect to the socket of a service-mode cell (the kernel names them); a
    # personal cell's belongs to its owner alone, as the master's does
    mode = 0o666 if os.geteuid() == 0 else 0o600
    sockets = [unix_listener(settings.socket_path, mode)]
    address = ""
    if settings.port is not None:
        tcp = tcp_listener(settings.bind, settings.port)
        sockets.append(tcp)
        address = http_address(tcp)
    (cell.restd_spool / "address").write_text(f"{address}\n{settings.socket_path}\n")
    config = uvicorn.Config(app, http=PeerProtocol, lifespan="off", log_config=None, access_log=False,
                            timeout_graceful_shutdown=5)
    _Server(config, [settings.socket_path, cell.restd_spool / "address", pid_file]).run(sockets=sockets)
