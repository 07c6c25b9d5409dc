"""requests' HTTP adapter for xAI: its connections read every answer through the request's
AnswerWatch (deadline, stall, bytes seen) and note whether a request went out on a reused
keep-alive connection."""

from __future__ import annotations

import contextvars
import http.client
import io

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from grok_magic.xai.answer_watch import AnswerWatch

# The watch of the request this thread is sending (requests sends in the caller's thread).
CURRENT_WATCH: contextvars.ContextVar[AnswerWatch | None] = contextvars.ContextVar(
    "grok_magic_answer_watch", default=None)


class WatchedReader(io.RawIOBase):
    """The socket's reader under an http.client response: each read waits at most until the
    deadline, and tells the watch what arrived."""

    def __init__(self, raw: io.RawIOBase, sock, watch: AnswerWatch) -> None:
        super().__init__()
        self.raw, self.sock, self.watch = raw, sock, watch

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:
        watch, sock = self.watch, self.sock
        current = sock.gettimeout()
        timeout = watch.read_timeout(current)
        if timeout != current:
            sock.settimeout(timeout)
        try:
            count = self.raw.readinto(buffer)
        except TimeoutError:
            watch.timed_out()
            raise
        if count:
            watch.received(count)
        return count

    def close(self) -> None:
        if not self.closed:
            self.raw.close()  # the socket's makefile() reference: the connection owns the socket
        super().close()


class WatchedResponse(http.client.HTTPResponse):
    """http.client's response, reading through the current request's watch."""

    def __init__(self, sock, *args, **kwargs) -> None:
        super().__init__(sock, *args, **kwargs)
        # A proxy's answer to CONNECT is not the answer: only the one after it is watched.
        self.watch = CURRENT_WATCH.get() if self._method != "CONNECT" else None
        if self.watch is not None:
            # detach(): the buffer is still empty, and the socket file stays open under ours.
            self.fp = io.BufferedReader(WatchedReader(self.fp.detach(), sock, self.watch))

    def begin(self) -> None:
        super().begin()
        if self.watch is not None:
            self.watch.headers_done()


class WatchedConnection:
    """A connection that counts the answers read on its socket, to tell the watch whether a
    request reuses a kept-alive connection (which the server may have closed meanwhile)."""

    response_class = WatchedResponse
    answers = 0  # answers whose headers were read on the current socket

    def connect(self) -> None:
        self.answers = 0
        super().connect()

    def close(self) -> None:
        self.answers = 0
        super().close()

    def request(self, *args, **kwargs) -> None:
        watch = CURRENT_WATCH.get()
        if watch is not None:
            watch.reused = self.answers > 0 and self.sock is not None
        super().request(*args, **kwargs)

    def getresponse(self):
        response = super().getresponse()
        self.answers += 1
        return response


class WatchedHTTPConnection(WatchedConnection, HTTPConnection):
    pass


class WatchedHTTPSConnection(WatchedConnection, HTTPSConnection):
    pass


class WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


POOLS = {"http": WatchedHTTPPool, "https": WatchedHTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """requests' adapter with watched connections (direct, or through an HTTP(S) proxy)."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools have connections of their own
            manager.pool_classes_by_scheme = POOLS
        return manager
