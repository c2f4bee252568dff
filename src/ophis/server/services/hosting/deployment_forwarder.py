"""What a deployment runs as: its ``serve`` command, plus a bridge from the Unix socket the
server listens through to the app's ``127.0.0.1:$PORT`` in the deployment's own network.

The server binds the Unix socket (in its data directory, closed to user code) and starts
this script as the account's OS user, inside the deployment's network namespace, with the
listening socket and a readiness pipe as inherited descriptors::

    python -I deployment_forwarder.py PORT LISTEN_FD READY_FD COMMAND...

It runs ``COMMAND`` (same process group: the server ends both as one), writes one byte to
the readiness pipe once the app accepts a connection on ``PORT``, carries each connection
of the socket to a new one of the app's, and exits with the app's exit code when it ends.

Run as a script of the standard library only (``-I``: nothing of the environment or the
user's site-packages), since the account's OS user may not import this server's package.
No packaged tool does exactly this: socat would need a Debian package on every host, and
neither it nor the app would report readiness nor end together.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys

_WAIT_STEP = 0.1
_CHUNK = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def _bridge(port: int, client: asyncio.StreamReader, answer: asyncio.StreamWriter) -> None:
    try:
        app_reader, app_writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        answer.close()
        return
    try:
        await asyncio.gather(_pipe(client, app_writer), _pipe(app_reader, answer))
    finally:
        for writer in (app_writer, answer):
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def _announce_when_listening(port: int, ready_fd: int) -> None:
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(_WAIT_STEP)
            continue
        writer.close()
        os.write(ready_fd, b"1")
        os.close(ready_fd)
        return


async def main(port: int, listen_fd: int, ready_fd: int, command: list[str]) -> int:
    listener = socket.socket(fileno=listen_fd)
    app = await asyncio.create_subprocess_exec(*command)
    server = await asyncio.start_unix_server(
        lambda reader, writer: _bridge(port, reader, writer), sock=listener
    )
    announcing = asyncio.create_task(_announce_when_listening(port, ready_fd))
    code = await app.wait()
    announcing.cancel()
    server.close()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    port, listen_fd, ready_fd, *command = sys.argv[1:]
    sys.exit(asyncio.run(main(int(port), int(listen_fd), int(ready_fd), command)))
