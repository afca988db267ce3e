"""The API's listening socket."""

from __future__ import annotations

import socket

from ticketflow.entrypoints.api import bind, url_of


def test_accepted_connections_send_without_delay() -> None:
    """Answers are written head then body; without TCP_NODELAY on the accepted connection the
    body waits for the client's delayed ACK. Linux passes the option from the listening socket
    to the connections it accepts."""
    listening = bind("127.0.0.1", 0)
    with listening, socket.create_connection(listening.getsockname()[:2]) as client:
        accepted, _ = listening.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert client is not None
    with bind("127.0.0.1", 0) as other:
        assert url_of(other).startswith("http://127.0.0.1:")
