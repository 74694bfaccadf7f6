"""A small HTTP server for a stand-in repository directory: the lab binds it on the bridge address
(10.199.77.1:8081), tests on 127.0.0.1 with port 0 (a free port). Read-only, GET and HEAD only."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # APT fetches many files; an access log line each would drown the lab's own output


class RepositoryServer:
    """Serves `directory` on `host:port` from a daemon thread until close() (or the end of a `with` block)."""

    def __init__(self, directory: Path, host: str, port: int = 0) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"standins-http-{host}", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RepositoryServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def serve_directory(directory: Path, host: str, port: int = 0) -> RepositoryServer:
    """Start serving `directory` (e.g. the root build_stack_repositories laid out) and return the running server."""
    return RepositoryServer(directory, host, port)
