"""S3 faults of benchmarks/reliability.py: the endpoint stopped before an upload, and what
moto_server cannot make on its own: a small HTTP proxy in front of it answers some requests
with S3's own throttling (503 SlowDown) or server error (500 InternalError) bodies, the way a
real endpoint does, and passes the rest through.
The factory's S3 client (botocore standard retries, factory.core.base.storage) talks to the
proxy; nothing in the factory is patched."""

from __future__ import annotations

import http.client
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from reliability_setup import Context, Result, start_moto

from factory.core.base.errors import FactoryError
from factory.core.base.plane import DataPlane
from factory.core.base.storage import Storage

ERRORS = {
    503: ("SlowDown", "Please reduce your request rate."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
}
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


def _handler(upstream: str, fail: Callable[[str, int], int | None]) -> type[BaseHTTPRequestHandler]:
    """A handler that asks `fail(method, n)` (n counts requests) for an error status, else forwards."""
    host = urlsplit(upstream).netloc
    count = itertools.count()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    out += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
                return out
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for k, v in headers:  # a HEAD keeps the object's Content-Length: it is how clients learn the size
                if k.lower() not in HOP and (k.lower() != "content-length" or self.command == "HEAD"):
                    self.send_header(k, v)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _any(self) -> None:
            body = self._body()
            with lock:
                n = next(count)
            status = fail(self.command, n)
            if status:
                code, message = ERRORS[status]
                xml = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>"
                self._reply(status, [("Content-Type", "application/xml")], (xml + "</Error>").encode())
                return
            conn = http.client.HTTPConnection(host, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            self._reply(response.status, response.getheaders(), data)
            conn.close()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any  # noqa: N815 (http.server's names)

    return Handler


@contextmanager
def faulty_s3(fail: Callable[[str, int], int | None]) -> Iterator[str]:
    """moto_server behind the faulty proxy; AWS_ENDPOINT_URL points at the proxy meanwhile."""
    import s3fs

    proc, upstream = start_moto()  # sets AWS_ENDPOINT_URL to moto and makes the bucket
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream, fail))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        yield "s3://reliability"
    finally:
        server.shutdown()
        proc.kill()
        proc.wait()
        s3fs.S3FileSystem.clear_instance_cache()


def _land(plane: DataPlane, batch: str, data: bytes) -> tuple[str, float]:
    """Land the bytes; what happened in a word or two (a raw client error is a crash), and the seconds."""
    start = time.perf_counter()
    try:
        plane.land(batch, data, "csv")
        got = "landed"
    except FactoryError as exc:  # one line for the operator
        got = f"failed: {type(exc).__name__}"
    except Exception as exc:  # a raw client error leaks: counted as a crash
        got = f"crash: {type(exc).__name__}: {exc}"
    return got, time.perf_counter() - start


def _verdict(ok: bool, got: str, took: float, bad: str) -> str:
    """ok; else a hang (120 s or more), a crash (a raw client error), or what went wrong."""
    if took >= 120:
        return "hang"
    return "ok" if ok else "crash" if got.startswith("crash") else bad


def _batch(ctx: Context, bucket: str, prefix: str, free: int) -> tuple[DataPlane, str, bytes]:
    batch = ctx.free[free]
    data = ctx.rows[batch].to_csv(index=False).encode()
    return DataPlane(Storage(f"{bucket}/{prefix}"), ctx.factory.spec), batch, data


def s3_endpoint_gone(ctx: Context) -> Result:
    """moto_server stopped before the upload: landing fails within the client's bounded waits."""
    proc, _ = start_moto()
    plane, batch, data = _batch(ctx, "s3://reliability", "gone", 0)
    proc.kill()
    proc.wait()
    got, took = _land(plane, batch, data)
    verdict = _verdict(got.startswith("failed"), got, took, "silent_accept")
    return Result("s3_endpoint_gone", "fault", "fail", got, verdict, f"{got} after {took:.1f}s")


def s3_throttled(ctx: Context) -> Result:
    """Every other request answered 503 SlowDown: botocore's retries land the batch, byte for byte."""
    with faulty_s3(lambda method, n: 503 if n % 2 == 0 else None) as bucket:
        plane, batch, data = _batch(ctx, bucket, "throttled", 5)
        got, took = _land(plane, batch, data)
        same = got == "landed" and plane.landed_bytes(batch)[0] == data
    verdict = _verdict(same, got, took, "lost_bytes")
    note = f"{got}, byte-identical: {same}, {took:.1f}s"
    return Result("s3_throttled_503", "fault", "retried", got, verdict, note)


def s3_puts_fail(ctx: Context) -> Result:
    """Every PUT answered 500: landing fails with one line, no object is visible, and once the
    endpoint recovers the same bytes land (nothing is stuck half-written)."""
    broken = {"on": True}
    with faulty_s3(lambda method, n: 500 if broken["on"] and method == "PUT" else None) as bucket:
        plane, batch, data = _batch(ctx, bucket, "errors", 5)
        got, took = _land(plane, batch, data)
        visible = plane.storage.list("landing")
        broken["on"] = False
        again, _ = _land(plane, batch, data)
        same = again == "landed" and plane.landed_bytes(batch)[0] == data
    ok = got.startswith("failed") and not visible and same
    verdict = _verdict(ok, got, took, "partial_file")
    note = f"{got} after {took:.1f}s; visible {visible}; after recovery: {again}, byte-identical: {same}"
    return Result("s3_500_on_every_put", "fault", "fail", got, verdict, note)


S3_FAULTS = [s3_endpoint_gone, s3_throttled, s3_puts_fail]
