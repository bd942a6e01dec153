"""The gateway's lean reverse proxy: asyncio Protocols on uvloop, httptools parsing both directions.

Why not aiohttp: its server plus client session cost ~140 µs of CPU per proxied request, as much as
the service behind it (docs/benchmarks.md). This does only what the ALB stand-in needs:

* a `ClientConnection` per accepted socket parses requests and answers them one at a time, in
  order (pipelined requests wait their turn); request heads are capped as the ALB caps them and
  must arrive within a deadline; request bodies are read whole (2 MiB at most) and re-sent with
  Content-Length; a path with a `.` or `..` segment is refused, never forwarded;
* an `UpstreamPool` per service keeps idle keep-alive `UpstreamConnection`s; the response is read
  whole and written back with Content-Length (chunked and close-delimited upstream bodies included).

Every request opens at most one upstream connection at a time, so upstream connections never
outnumber client connections.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from typing import cast
from urllib.parse import unquote, urlsplit

import httptools

from commerce_platform.routing import SERVICES, ServiceRoute, route_for_path
from commerce_platform.settings import service_url

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024
CONNECT_TIMEOUT_S = 2.0
RESPONSE_TIMEOUT_S = 30.0
# What aiohttp's server allowed an idle client connection.
CLIENT_IDLE_TIMEOUT_S = 75.0
# From a request's first byte to the end of its headers, however steadily it trickles in: without
# it a client sending a byte a minute holds a connection and a half-parsed request forever.
HEADERS_TIMEOUT_S = 10.0
# The ALB's limits: 16 KiB for the request line or one header, 64 KiB for the whole head. Past
# them the head would otherwise grow in memory without end.
MAX_REQUEST_LINE_BYTES = 16 * 1024
MAX_FIELD_BYTES = 16 * 1024
MAX_HEAD_BYTES = 64 * 1024
# uvicorn closes idle keep-alive connections after 5 s: never pick one that may be closing right now.
UPSTREAM_IDLE_S = 4.0
MAX_IDLE_PER_SERVICE = 256
HEALTH_PATH = "/_gateway/health"
# How long a rejected client may go on sending before we close (it should see our answer, not a reset).
LINGER_S = 2.0

# Hop-by-hop headers, plus the ones the proxy itself sets (Host is the upstream's, as aiohttp's
# client did; X-Forwarded-* the way the ALB sets them; the body is re-framed with Content-Length;
# Expect is answered here, as the body is read here).
_REQUEST_DROP = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
        b"transfer-encoding", b"upgrade", b"host", b"content-length", b"expect",
        b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host",
    }
)
_RESPONSE_DROP = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
        b"transfer-encoding", b"upgrade", b"content-length",
    }
)
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"TRACE"})
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass(slots=True)
class Request:
    method: bytes
    target: bytes  # path and query, as the client sent them
    path: str  # percent-decoded, as the services route on it
    headers: bytes  # the headers to pass on, already as "Name: value\r\n" lines
    host: bytes
    forwarded_for: bytes  # incoming X-Forwarded-For values, comma-joined
    body: bytes | None  # None: the request had no body framing at all
    keep_alive: bool
    http10: bool


@dataclass(slots=True)
class Response:
    status: int
    reason: bytes
    headers: bytes
    content_length: bytes | None  # upstream's, kept for HEAD and 304 (which carry no body)
    body: bytes


class UpstreamError(Exception):
    """The upstream exchange failed; `before_response`: not one byte of a response had arrived."""

    def __init__(self, status: int, detail: str, *, before_response: bool) -> None:
        super().__init__(detail)
        self.status = status
        self.before_response = before_response


def problem(status: int, title: str, detail: str, instance: str) -> Response:
    """An RFC 9457 problem, as the services answer theirs."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": instance}
    headers = b"Content-Type: application/problem+json; charset=utf-8\r\n"
    return Response(status, title.encode(), headers, None, json.dumps(body).encode())


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive connection to a service, carrying one exchange at a time."""

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[Response] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._head = False
        self._got_bytes = False
        self._reset_response()

    def _reset_response(self) -> None:
        self._status = 0
        self._reason = b""
        self._headers: list[bytes] = []
        self._length: bytes | None = None
        self._framed = False  # Content-Length or Transfer-Encoding: not delimited by close
        self._headers_done = False
        self._body: list[bytes] = []

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's isn't a subclass

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: the connection can't be trusted
            self.close()
            return
        self._got_bytes = True
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(UpstreamError(502, f"invalid response: {exc}", before_response=False))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        if self._waiter is not None:
            if self._headers_done and not self._framed and not self._head:
                self._complete(keep_alive=False)  # a close-delimited body ends here
            else:
                error = UpstreamError(503, "closed the connection", before_response=not self._got_bytes)
                self._fail(error)

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._reset_response()

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._headers_done:  # a chunked body's trailer fields: not passed on
            return
        lower = name.lower()
        if lower not in _RESPONSE_DROP:
            self._headers += (name, b": ", value, b"\r\n")
        elif lower == b"content-length":
            self._length = value
            self._framed = True
        elif lower == b"transfer-encoding":
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self._status = self.parser.get_status_code()
        if self._head and self._status >= 200:
            # httptools can't be told the request was HEAD: it would wait for Content-Length bytes
            # that never come. Finish here and give the next exchange a fresh parser.
            keep_alive = self._framed and self.parser.should_keep_alive()
            self.parser = httptools.HttpResponseParser(self)
            self._complete(keep_alive)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._status < 200:  # 1xx interim response: the real one follows
            return
        if self._waiter is not None:
            self._complete(self.parser.should_keep_alive())

    # the exchange

    def send(self, data: bytes, *, head: bool) -> asyncio.Future[Response]:
        assert self.transport is not None
        loop = self.pool.loop
        self._waiter = waiter = loop.create_future()
        self._head = head
        self._got_bytes = False
        self._timer = loop.call_later(RESPONSE_TIMEOUT_S, self._timed_out)
        self.transport.write(data)
        return waiter

    def _complete(self, keep_alive: bool) -> None:
        waiter, self._waiter = self._waiter, None
        self._stop_timer()
        response = Response(
            self._status, self._reason, b"".join(self._headers), self._length, b"".join(self._body)
        )
        if not keep_alive:
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def _fail(self, error: UpstreamError) -> None:
        waiter, self._waiter = self._waiter, None
        self._stop_timer()
        self.close()  # whatever state it is in, it is not reusable
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _timed_out(self) -> None:
        self._timer = None
        self._fail(UpstreamError(503, f"no response within {RESPONSE_TIMEOUT_S:.0f} s", before_response=False))

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UpstreamPool:
    """Idle keep-alive connections to one service, most recently used first."""

    def __init__(self, route: ServiceRoute, loop: asyncio.AbstractEventLoop) -> None:
        url = urlsplit(service_url(route.name))
        if url.scheme != "http" or url.hostname is None:
            raise ValueError(f"the gateway proxies plain http only, not {url.geturl()!r} ({route.url_env_var})")
        self.name = route.name
        self.loop = loop
        self.host = url.hostname
        self.port = url.port or 80
        self.host_header = url.netloc.encode()
        self._idle: list[UpstreamConnection] = []

    async def acquire(self, *, fresh: bool = False) -> UpstreamConnection:
        now = self.loop.time()
        while self._idle and not fresh:
            conn = self._idle.pop()
            if not conn.closed and now - conn.idle_since < UPSTREAM_IDLE_S:
                conn.reused = True
                return conn
            conn.close()
        connecting = self.loop.create_connection(lambda: UpstreamConnection(self), self.host, self.port)
        _, conn = await asyncio.wait_for(connecting, CONNECT_TIMEOUT_S)
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        if conn.closed or len(self._idle) >= MAX_IDLE_PER_SERVICE:
            conn.close()
            return
        conn.idle_since = self.loop.time()
        self._idle.append(conn)

    def forget(self, conn: UpstreamConnection) -> None:
        """The connection closed (the service closes idle ones): drop it if it sits in the pool."""
        if conn in self._idle:
            self._idle.remove(conn)

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()


def has_dot_segment(path: str) -> bool:
    """Whether the percent-decoded `path` has a `.` or `..` segment, also one delimited by a decoded
    %2F or by a backslash. The route is chosen on the path as sent; a service or middleware that
    resolved `/v1/users/../../internal/...` would serve a path no route leads to."""
    if "." not in path:
        return False
    return any(segment in (".", "..") for segment in path.replace("\\", "/").split("/"))


@lru_cache(maxsize=4096)
def _route(head: str) -> ServiceRoute | None:
    return route_for_path(head)


# Routing only ever looks at a path's first segments: cache on them, not on ids further on.
_ROUTE_SEGMENTS = max(prefix.rstrip("/").count("/") for route in SERVICES for prefix in route.path_prefixes)


def route_of(path: str) -> ServiceRoute | None:
    return _route("/".join(path.split("/", _ROUTE_SEGMENTS + 1)[: _ROUTE_SEGMENTS + 1]))


class Gateway:
    """Routes a request to its service's pool and forwards it, retrying a stale connection once."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pools = {route.name: UpstreamPool(route, loop) for route in SERVICES}

    async def forward(self, request: Request, peer: bytes) -> Response:
        if request.path == HEALTH_PATH:
            if request.method in (b"GET", b"HEAD"):
                return Response(200, b"OK", b"Content-Type: application/json; charset=utf-8\r\n", None,
                                b'{"status": "ok"}')
            return problem(405, "Method Not Allowed", "the gateway's health answers GET", request.path)
        if has_dot_segment(request.path):
            return problem(400, "Bad Request", "a path may not have . or .. segments", request.path)
        route = route_of(request.path)
        if route is None:
            return problem(404, "Not Found", f"no service serves {request.path}", request.path)
        pool = self.pools[route.name]
        forwarded_for = request.forwarded_for + b", " + peer if request.forwarded_for else peer
        parts = [
            request.method, b" ", request.target, b" HTTP/1.1\r\nHost: ", pool.host_header, b"\r\n",
            request.headers,
            b"X-Forwarded-For: ", forwarded_for, b"\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: ",
            request.host, b"\r\n",
        ]
        if request.body is not None:
            parts += (b"Content-Length: ", str(len(request.body)).encode(), b"\r\n\r\n", request.body)
        else:
            parts.append(b"\r\n")
        data = b"".join(parts)
        head = request.method == b"HEAD"
        for attempt in (1, 2):
            try:
                conn = await pool.acquire(fresh=attempt == 2)
            except (OSError, TimeoutError):
                return self._unavailable(route, request, 503)
            try:
                response = await conn.send(data, head=head)
            except UpstreamError as error:
                # A pooled connection the service closed while idle fails before any response byte;
                # an idempotent request may safely go again, once, on a new connection.
                stale = conn.reused and error.before_response and request.method in _IDEMPOTENT
                if stale and attempt == 1:
                    continue
                log.warning("%s %s: the %s service %s", request.method.decode(), request.path, route.name, error)
                return self._unavailable(route, request, error.status)
            pool.release(conn)
            return response
        raise AssertionError("unreachable")

    @staticmethod
    def _unavailable(route: ServiceRoute, request: Request, status: int) -> Response:
        if status == 502:
            return problem(502, "Bad Gateway", f"the {route.name} service sent an invalid response", request.path)
        return problem(503, "Service Unavailable", f"the {route.name} service is not answering", request.path)

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()


class ClientConnection(asyncio.Protocol):
    """One client socket: parses its requests and answers them one at a time, in order."""

    def __init__(self, gateway: Gateway, *, headers_timeout: float = HEADERS_TIMEOUT_S) -> None:
        self.gateway = gateway
        self.loop = gateway.loop
        self.headers_timeout = headers_timeout
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.peer = b""
        self.local_host = b""
        # Parsed requests (or a final error response) waiting their turn behind the one in flight.
        self.queue: deque[Request | Response] = deque()
        self.busy = False
        self.stopped = False  # no more requests will be read: answer the queue, then close
        self.paused = False
        self.last_active = self.loop.time()
        self._drained: asyncio.Future[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._continue_due = False
        self._task: asyncio.Task[None] | None = None
        # Between a request's first byte and the end of its headers (see data_received).
        self._in_head = False
        self._heads_begun = 0
        self._head_started = 0.0
        self._head_timer: asyncio.TimerHandle | None = None
        self._begin()

    def _begin(self) -> None:
        self._url = b""
        self._headers: list[bytes] = []
        self._host: bytes | None = None
        self._head_size = 0  # request line and header fields, as parsed
        self._head_bytes = 0  # bytes of reads that fell wholly inside this head (see data_received)
        self._forwarded_for: list[bytes] = []
        self._framed = False
        self._headers_done = False
        self._body: list[bytes] = []
        self._size = 0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's isn't a subclass
        peer = self.transport.get_extra_info("peername")
        self.peer = str(peer[0]).encode() if peer else b""
        local = self.transport.get_extra_info("sockname")
        self.local_host = f"{local[0]}:{local[1]}".encode() if local else b""
        self._idle_timer = self.loop.call_later(CLIENT_IDLE_TIMEOUT_S, self._check_idle)

    def data_received(self, data: bytes) -> None:
        self.last_active = self.loop.time()
        if self.stopped:
            return
        in_head, heads_begun = self._in_head, self._heads_begun
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._stop()  # the request before the upgrade is answered (without upgrading), then close
        except httptools.HttpParserError as exc:
            if not self.stopped:
                self._reject(problem(400, "Bad Request", f"malformed HTTP request: {exc}", self._path()))
        if not self._in_head or self.stopped:
            return
        # httptools holds a header field until its line ends, so on_header can't see one that never
        # ends: count the reads that began and ended inside this same head as well.
        if in_head and heads_begun == self._heads_begun:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._reject(self._head_too_large())
                return
        if self._head_timer is None:  # a head split over reads: from now on it has a deadline
            remaining = self.headers_timeout - (self.loop.time() - self._head_started)
            self._head_timer = self.loop.call_later(max(remaining, 0.0), self._headers_too_slow)

    def eof_received(self) -> bool:
        """The client is done sending (a half-close, as `nc` does): answer what it sent, then close."""
        self.stopped = True
        return self.busy  # keep the transport open for writing while an answer is due

    def connection_lost(self, exc: Exception | None) -> None:
        self.stopped = True
        self.queue.clear()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._cancel_head_timer()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._drained = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._begin()
        self._in_head = True
        self._heads_begun += 1
        self._head_started = self.loop.time()

    def on_url(self, url: bytes) -> None:
        self._url += url  # called for each read's part of the request line
        self._head_size += len(url)
        if len(self._url) > MAX_REQUEST_LINE_BYTES:
            detail = f"request targets up to {MAX_REQUEST_LINE_BYTES} bytes"
            self._reject(problem(414, "URI Too Long", detail, self._path()[:200]))

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value)
        self._head_size += size + 4  # trailer fields count too: they are held in memory as well
        if size > MAX_FIELD_BYTES or self._head_size > MAX_HEAD_BYTES:
            self._reject(self._head_too_large())
            return
        if self._headers_done:  # a chunked body's trailer fields: not passed on
            return
        lower = name.lower()
        if lower not in _REQUEST_DROP:
            self._headers += (name, b": ", value, b"\r\n")
        elif lower == b"content-length":
            self._framed = True
            if int(value) > MAX_BODY_BYTES:  # httptools has validated it is digits
                self._reject(problem(413, "Content Too Large", f"bodies up to {MAX_BODY_BYTES} bytes", self._path()))
        elif lower == b"transfer-encoding":
            self._framed = True
        elif lower == b"host":
            if self._host is not None:  # which one would the services believe? (RFC 9112 3.2)
                self._reject(problem(400, "Bad Request", "more than one Host header", self._path()))
            self._host = value
        elif lower == b"x-forwarded-for":
            self._forwarded_for.append(value)
        elif lower == b"expect" and value.lower() == b"100-continue":
            self._continue_due = True

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self._in_head = False
        self._cancel_head_timer()
        # Answer the expectation now only if this request is next; else when its turn comes.
        if self._continue_due and not self.stopped and not self.busy:
            self._send_continue()

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > MAX_BODY_BYTES:  # chunked: the size shows only as it arrives
            self._reject(problem(413, "Content Too Large", f"bodies up to {MAX_BODY_BYTES} bytes", self._path()))
        elif not self.stopped:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self.stopped:
            return
        self._continue_due = False  # the body came anyway
        url = self._url
        if url.startswith(b"/"):
            raw_path = url.partition(b"?")[0]
        else:  # absolute-form (or "*"): the service gets origin-form
            parsed = httptools.parse_url(url)
            raw_path = parsed.path or b"/"
            url = raw_path + (b"?" + parsed.query if parsed.query else b"")
        path = raw_path.decode("latin-1")
        parser = self.parser
        request = Request(
            method=parser.get_method(),
            target=url,
            path=unquote(path) if "%" in path else path,
            headers=b"".join(self._headers),
            host=self._host or self.local_host,
            forwarded_for=b", ".join(self._forwarded_for),
            body=b"".join(self._body) if self._framed else None,
            keep_alive=parser.should_keep_alive(),
            http10=parser.get_http_version() == "1.0",
        )
        self._enqueue(request)

    def _path(self) -> str:
        return self._url.partition(b"?")[0].decode("latin-1")

    def _head_too_large(self) -> Response:
        detail = f"header fields up to {MAX_FIELD_BYTES} bytes each, {MAX_HEAD_BYTES} in all"
        return problem(431, "Request Header Fields Too Large", detail, self._path()[:200])

    def _headers_too_slow(self) -> None:
        self._head_timer = None
        if not self._in_head or self.stopped:
            return
        if self.paused:  # we stopped reading (pipelining): the client is not the slow one
            self._head_timer = self.loop.call_later(self.headers_timeout, self._headers_too_slow)
            return
        detail = f"the request's headers did not arrive within {self.headers_timeout:g} s"
        self._reject(problem(408, "Request Timeout", detail, self._path()[:200]))

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    # answering

    def _enqueue(self, item: Request | Response) -> None:
        self.queue.append(item)
        if not self.busy:
            self.busy = True
            self._task = self.loop.create_task(self._answer_queue())
        elif not self.paused and self.transport is not None:
            self.paused = True  # a pipelining client waits until we catch up
            self.transport.pause_reading()

    def _reject(self, response: Response) -> None:
        """Answer with `response` in turn and close: what follows on the socket can't be trusted."""
        if not self.stopped:
            self._enqueue(response)
            self._stop()

    def _stop(self) -> None:
        self.stopped = True
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def _send_continue(self) -> None:
        self._continue_due = False
        if self.transport is not None:
            self.transport.write(_CONTINUE)

    async def _answer_queue(self) -> None:
        try:
            while self.queue:
                item = self.queue.popleft()
                if self.paused and not self.queue and not self.stopped and self.transport is not None:
                    self.paused = False
                    self.transport.resume_reading()
                if isinstance(item, Response):
                    self._write(item, head=False, keep_alive=False, http10=False, linger=True)
                    return
                try:
                    response = await self.gateway.forward(item, self.peer)
                except Exception:
                    log.exception("proxying %s %s failed", item.method.decode(), item.path)
                    response = problem(502, "Bad Gateway", "the gateway failed", item.path)
                keep_alive = item.keep_alive and not (self.stopped and not self.queue)
                self._write(response, head=item.method == b"HEAD", keep_alive=keep_alive, http10=item.http10)
                if not keep_alive:
                    return
                if self._drained is not None:  # the client reads slower than we answer
                    await self._drained
        finally:
            self.busy = False
            self.last_active = self.loop.time()
        if self._continue_due and not self.stopped:
            self._send_continue()

    def _write(self, response: Response, *, head: bool, keep_alive: bool, http10: bool, linger: bool = False) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        status = response.status
        if status == 204 or status < 200:
            length = b""
        elif head or status == 304:
            length = b"Content-Length: " + response.content_length + b"\r\n" if response.content_length else b""
        else:
            length = b"Content-Length: " + str(len(response.body)).encode() + b"\r\n"
        connection = b"Connection: keep-alive\r\n" if http10 else b""  # 1.1 keeps alive unless told
        if not keep_alive:
            connection = b"Connection: close\r\n"
        parts = [
            b"HTTP/1.1 ", str(status).encode(), b" ", response.reason, b"\r\n",
            response.headers, length, connection, b"\r\n",
        ]
        if not (head or status in (204, 304) or status < 200):
            parts.append(response.body)
        transport.write(b"".join(parts))
        if linger:
            # The client may still be sending (a body too large): closing with unread bytes would
            # reset the connection and lose our answer. Half-close, read and drop, close a bit later.
            transport.write_eof()
            transport.resume_reading()
            self.loop.call_later(LINGER_S, transport.close)
        elif not keep_alive:
            transport.close()

    def _check_idle(self) -> None:
        """Close a keep-alive connection nobody used for CLIENT_IDLE_TIMEOUT_S; else look again later."""
        if self.transport is None or self.transport.is_closing():
            return
        idle_for = self.loop.time() - self.last_active
        if not self.busy and idle_for >= CLIENT_IDLE_TIMEOUT_S:
            self.transport.close()
            return
        wait = CLIENT_IDLE_TIMEOUT_S if self.busy else CLIENT_IDLE_TIMEOUT_S - idle_for
        self._idle_timer = self.loop.call_later(wait, self._check_idle)


async def serve(
    host: str, port: int, *, ready: asyncio.Event | None = None, headers_timeout: float = HEADERS_TIMEOUT_S
) -> None:
    """Serve the gateway on host:port until cancelled."""
    loop = asyncio.get_running_loop()
    gateway = Gateway(loop)
    server = await loop.create_server(
        lambda: ClientConnection(gateway, headers_timeout=headers_timeout), host, port, backlog=1024
    )
    try:
        async with server:
            if ready is not None:
                ready.set()
            await server.serve_forever()
    finally:
        gateway.close()
