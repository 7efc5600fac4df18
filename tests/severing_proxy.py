"""A TCP relay to a server that can drop the server's side of every connection silently.

It stands for what a node cut off from the network finds when it comes back: meanwhile the server
ended its sessions (the stalled-transaction limit, ``tcp_user_timeout``), and the packets saying
so were lost. The node's sockets still look open; its next request is answered by a TCP reset.
:meth:`SeveringProxy.sever` produces exactly that on 127.0.0.1: the server's side is closed at
once (its session ends and frees its locks), while the client hears nothing until it sends, and
is then reset (``SO_LINGER`` 0, as the kernel answers a segment for a connection it no longer
has). New connections after the severing are relayed normally, as after the heal.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Self


class SeveringProxy:
    """Relays 127.0.0.1:``port`` to ``target``; :meth:`sever` drops what is relayed so far.

    Args:
        target_host: The server's address.
        target_port: The server's port.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self.port = 0

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for link in list(self._links):
            await link.close()
        await self._server.wait_closed()

    def relay_url(self, url: str) -> str:
        """``url`` (``scheme://user@host:port/db``) with the proxy's address as host and port."""
        scheme, rest = url.split("://", 1)
        user, after = rest.rsplit("@", 1) if "@" in rest else ("", rest)
        path = after.split("/", 1)[1] if "/" in after else ""
        return f"{scheme}://{user + '@' if user else ''}127.0.0.1:{self.port}/{path}"

    async def sever(self) -> None:
        """Close the server's side of every relayed connection; reset each client when it sends."""
        for link in list(self._links):
            await link.sever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            _reset(writer)
            return
        link = _Link(reader, writer, up_reader, up_writer)
        self._links.add(link)
        try:
            await link.run()
        finally:
            self._links.discard(link)


class _Link:
    """One relayed connection: two pumps; once severed, a trap for the client's next bytes."""

    def __init__(
        self,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        server_reader: asyncio.StreamReader,
        server_writer: asyncio.StreamWriter,
    ) -> None:
        self._client = (client_reader, client_writer)
        self._server_writer = server_writer
        self._pumps = [
            asyncio.ensure_future(_pump(client_reader, server_writer)),
            asyncio.ensure_future(_pump(server_reader, client_writer)),
        ]
        self._severed = False

    async def run(self) -> None:
        """Relay until either side ends; if severed, reset the client at its next bytes."""
        await asyncio.wait(self._pumps, return_when=asyncio.FIRST_COMPLETED)
        if not self._severed:
            await self.close()
            return
        reader, writer = self._client
        with contextlib.suppress(ConnectionError):
            await reader.read(1)
        _reset(writer)

    def relay_url(self, url: str) -> str:
        """``url`` (``scheme://user@host:port/db``) with the proxy's address as host and port."""
        scheme, rest = url.split("://", 1)
        user, after = rest.rsplit("@", 1) if "@" in rest else ("", rest)
        path = after.split("/", 1)[1] if "/" in after else ""
        return f"{scheme}://{user + '@' if user else ''}127.0.0.1:{self.port}/{path}"

    async def sever(self) -> None:
        """End the server's side now; the client is left to find out."""
        self._severed = True
        await self._stop_pumps()
        _close(self._server_writer)

    async def close(self) -> None:
        """End both sides."""
        await self._stop_pumps()
        _close(self._server_writer)
        _close(self._client[1])

    async def _stop_pumps(self) -> None:
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (linger 0), as a host answers a connection it has forgotten."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
