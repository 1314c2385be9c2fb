"""The HTTP transports' listening socket gives accepted connections TCP_NODELAY.

Found by bench_call_overhead: over streamable HTTP on a kept-alive connection every stateless
tools/call took ~44 ms against ~5 ms on a fresh one. The server writes a response as two sends
(headers, then body); asyncio sets TCP_NODELAY only on accepted sockets whose `proto` is
IPPROTO_TCP, and `listen()` made its socket with proto 0, so Nagle held the body back until the
client's delayed ACK (~40 ms). Fixed in server/run.py; this test checks the socket option on the server side of a real
accepted connection, so it does not depend on timing. (It lives here because the benchmarks found
it; tests/server/test_transports.py is its natural home.)
"""

from __future__ import annotations

import asyncio
import socket

from taskloom.server.run import listen


async def test_connections_accepted_on_the_http_listening_socket_have_tcp_nodelay():
    sock = listen("127.0.0.1", 0)
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = writer.get_extra_info("socket")
        accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connect, sock=sock)
    try:
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        nodelay = await asyncio.wait_for(accepted, 10)
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
    assert nodelay != 0
