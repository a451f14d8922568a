"""The processes of `make stack`: started in order, restarted when they die, stopped in reverse.

Nothing here knows what the processes are or how they are configured (deploy/stack_config.py
writes that); deploy/stack.py puts the two together.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # children run from the project's root


class StackError(RuntimeError):
    """A part of the stack did not start; the message says which and shows its last output."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path | None = None
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None
    started_at: float = field(default_factory=time.monotonic)
    # Restarts in a row that ended early (reset once the child runs restart_reset_s).
    failures: int = 0
    restart_at: float | None = None  # when a dead child is started again

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Supervisor:
    """Children started in order and stopped in reverse, like compose's dependency order.

    `watch()` then keeps them running as compose's `restart: unless-stopped` does: a child
    that dies is logged and started again after a delay that doubles with each early death
    (restart_base_s, 2x, 4x, ... at most restart_cap_s) and goes back to the base once the
    child has stayed up restart_reset_s.
    """

    children: list[Child] = field(default_factory=list)
    restart_base_s: float = 0.5
    restart_cap_s: float = 30.0
    restart_reset_s: float = 10.0
    say: Callable[[str], None] = _say

    def _spawn(
        self, argv: list[str], env: Mapping[str, str] | None, log: Path | None
    ) -> subprocess.Popen[bytes]:
        output = None
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            output = log.open("ab")
        try:
            return subprocess.Popen(  # noqa: S603 - argv built here, never from input
                argv,
                cwd=ROOT,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                process_group=0,
            )
        finally:
            if output is not None:
                output.close()  # the child holds its own descriptor

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
    ) -> Child:
        """Start a child; its output goes to `log` (appended) or to our own terminal.

        Each child leads its own process group, so a Ctrl-C reaches only the supervisor,
        which then stops the children in order instead of all at once.
        """
        child = Child(
            name,
            self._spawn(argv, env, log),
            log,
            list(argv),
            dict(env) if env is not None else None,
        )
        self.children.append(child)
        return child

    def dead(self) -> Child | None:
        return next((c for c in self.children if not c.alive), None)

    def restart_dead(self, now: float | None = None) -> None:
        """One round of `restart: unless-stopped`: schedule the newly dead, start the due."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            if child.alive:
                continue
            if child.restart_at is None:
                if now - child.started_at >= self.restart_reset_s:
                    child.failures = 0
                delay = min(self.restart_cap_s, self.restart_base_s * 2**child.failures)
                child.failures += 1
                child.restart_at = now + delay
                self.say(
                    f"{child.name} terminou (código {child.process.returncode}); "
                    f"reiniciando em {delay:.1f} s (tentativa {child.failures})"
                )
            elif now >= child.restart_at:
                child.process = self._spawn(child.argv, child.env, child.log)
                child.started_at, child.restart_at = now, None
                self.say(f"{child.name} reiniciado (pid {child.process.pid})")

    def watch(self, until: Callable[[], bool] = lambda: False, interval_s: float = 0.2) -> None:
        """Keep every child running until `until()` holds (or an interrupt)."""
        while not until():
            self.restart_dead()
            time.sleep(interval_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM in reverse start order, bounded wait, then SIGKILL what is left."""
        for child in reversed(self.children):
            if child.alive:
                child.process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.process.wait(timeout_s)
            if child.alive:
                child.process.kill()
            child.process.wait()
        self.children.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 - http URL we built
            return 200 <= answer.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout_s: float = 30.0,
    supervisor: Supervisor | None = None,
    interval_s: float = 0.05,
) -> None:
    """Poll `check` until it holds; fail early, with its output, if a child dies meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if supervisor is not None and (dead := supervisor.dead()) is not None:
            raise StackError(
                f"{dead.name} terminou (código {dead.process.returncode}) "
                f"enquanto esperava {what}\n{dead.tail()}"
            )
        if time.monotonic() > deadline:
            raise StackError(f"tempo esgotado ({timeout_s:.0f} s) esperando {what}")
        time.sleep(interval_s)
