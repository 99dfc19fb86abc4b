"""A real git smart-HTTP server on loopback: ``git http-backend`` behind a small CGI wrapper.

URLs look like a forge's (``http://127.0.0.1:PORT/<owner>/<repo>``, with or without ``.git``),
so the source check and the emulated CI's ``--server-url`` can point at it as at GitHub or GitLab.
Repositories are real bare repositories made with the ``git`` binary; the server speaks
protocol v2 (the ``Git-Protocol`` header is passed through as ``GIT_PROTOCOL``) and allows
filters, as GitHub does.

``outage`` makes every request answer with one HTTP status (a 503 forge); :func:`silent_server`
is a port that accepts connections and never answers (a hung forge).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

_IDENTITY = {
    "GIT_AUTHOR_NAME": "Assay Test",
    "GIT_AUTHOR_EMAIL": "test@assay.invalid",
    "GIT_COMMITTER_NAME": "Assay Test",
    "GIT_COMMITTER_EMAIL": "test@assay.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def _git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **_IDENTITY, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@dataclass(frozen=True)
class Repository:
    """A repository on the server: its forge-like URL and its commits, oldest first."""

    url: str
    commits: tuple[str, ...]

    @property
    def head(self) -> str:
        return self.commits[-1]


@dataclass
class GitServer:
    url: str
    root: Path
    outage: int | None = None
    requests: list[str] = field(default_factory=list)

    def create_repository(self, path: str, commits: int = 3) -> Repository:
        """A bare repository at ``<url>/<path>`` whose ``main`` has ``commits`` commits."""
        work = self.root.parent / "work" / path
        work.mkdir(parents=True)
        _git("init", "--quiet", "--initial-branch=main", str(work))
        made: list[str] = []
        for number in range(1, commits + 1):
            (work / "index.js").write_text(f"module.exports = {number};\n")
            _git("add", "index.js", cwd=work)
            stamp = f"2026-01-0{min(number, 9)}T00:00:00Z"
            _git(
                "commit",
                "--quiet",
                "-m",
                f"commit {number}",
                cwd=work,
                env={"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp},
            )
            made.append(_git("rev-parse", "HEAD", cwd=work))
        bare = self.root / path
        bare.parent.mkdir(parents=True, exist_ok=True)
        _git("clone", "--quiet", "--bare", str(work), str(bare))
        _git("config", "uploadpack.allowFilter", "true", cwd=bare)
        _git("config", "http.receivepack", "false", cwd=bare)
        (self.root / f"{path}.git").symlink_to(bare.name)
        return Repository(url=f"{self.url}/{path}", commits=tuple(made))


class _Handler(BaseHTTPRequestHandler):
    server_version = "assay-test-git/1"
    protocol_version = "HTTP/1.0"
    state: ClassVar[GitServer]

    def log_message(self, format: str, *args: object) -> None:
        del format, args  # quiet: pytest shows failures, not access logs

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def _cgi(self) -> None:
        state = self.state
        state.requests.append(f"{self.command} {self.path}")
        if state.outage is not None:
            self.send_error(state.outage)
            return
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(state.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        done = subprocess.run(
            ["git", "http-backend"],
            input=body,
            env=env,
            capture_output=True,
            check=False,
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _:
            self.send_error(500, done.stderr.decode(errors="replace")[:200])
            return
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def git_server(root: Path) -> Iterator[GitServer]:
    """Serve bare repositories under ``root/repos`` at ``http://127.0.0.1:PORT``."""
    if shutil.which("git") is None:
        raise RuntimeError("git is not installed")
    repos = root / "repos"
    repos.mkdir(parents=True)
    state = GitServer(url="", root=repos)

    class Handler(_Handler):  # one class per server: the state is per server
        pass

    Handler.state = state
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host, port = httpd.server_address[:2]
    state.url = f"http://{host!s}:{port}"
    thread = threading.Thread(target=httpd.serve_forever, name="git-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@contextmanager
def silent_server() -> Iterator[str]:
    """A loopback port that completes TCP handshakes (the kernel's backlog) and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    host, port = sock.getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        sock.close()


def free_port_url() -> str:
    """A loopback URL on which nothing listens (a forge that is down)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()[:2]
    sock.close()
    return f"http://{host}:{port}"
