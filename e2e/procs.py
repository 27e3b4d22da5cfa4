"""Processes of the e2e deployment: started in their own session, logged to files, always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class E2EError(RuntimeError):
    """A step of the e2e run failed; the message says which and why."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], *, timeout: float, interval: float = 0.5) -> T:
    """Call ``check`` until it returns something other than None/False; :class:`E2EError` after ``timeout`` s.

    Other exceptions of ``check`` (a service still starting) are retried; an :class:`E2EError` is final.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value is not None and value is not False:
                return value
        except E2EError:  # a definite failure, not a service still starting
            raise
        except Exception as err:  # a service still starting: try again until the deadline
            last_error = err
        if time.monotonic() >= deadline:
            detail = f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
            raise E2EError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


@dataclass
class Proc:
    """One started process."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """The process id (also its process group id)."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether it is still running."""
        return self.popen.poll() is None

    def tail(self, lines: int = 20) -> str:
        """The last lines of its log."""
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


@dataclass
class Processes:
    """Starts processes in new sessions and stops every one of them (and their children) at the end."""

    log_dir: Path
    procs: list[Proc] = field(default_factory=list)

    def start(
        self, name: str, cmd: Sequence[str], env: dict[str, str], *, cwd: Path | None = None, user: str | None = None
    ) -> Proc:
        """Start ``cmd`` with stdout/stderr to ``<log_dir>/<name>.log``; ``user`` runs it through ``runuser``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        argv = list(cmd)
        if user is not None:
            argv = ["runuser", "-u", user, "--", *argv]
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def check_alive(self) -> None:
        """:class:`E2EError` naming the first process that exited."""
        for proc in self.procs:
            if not proc.alive():
                raise E2EError(f"{proc.name} exited with status {proc.popen.returncode}:\n{proc.tail()}")

    def kill(self, proc: Proc, timeout: float = 15.0) -> None:
        """SIGKILL ``proc``'s process group (a crash: no cleanup) and forget it; :class:`E2EError` if it lingers."""
        _signal_group(proc.pid, signal.SIGKILL)
        try:
            proc.popen.wait(timeout)
        except subprocess.TimeoutExpired as err:
            raise E2EError(f"{proc.name} (pid {proc.pid}) still running {timeout:.0f} s after SIGKILL") from err
        self.procs.remove(proc)

    def stop_all(self, grace: float = 15.0) -> list[str]:
        """SIGTERM every process group (newest first), SIGKILL what is left after ``grace`` s; returns notes."""
        notes: list[str] = []
        for proc in reversed(self.procs):
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in reversed(self.procs):
            remaining = max(0.1, deadline - time.monotonic())
            try:
                proc.popen.wait(remaining)
            except subprocess.TimeoutExpired:
                notes.append(f"{proc.name} did not stop on SIGTERM within {grace:.0f} s: killed")
        for proc in self.procs:  # children left in the group (Celery pool, task processes) go too
            _signal_group(proc.pid, signal.SIGKILL)
            if proc.alive():
                proc.popen.kill()
                proc.popen.wait(5)
        self.procs.clear()
        return notes


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run(cmd: Sequence[str], env: dict[str, str], *, log: Path, timeout: float, user: str | None = None) -> str:
    """Run ``cmd`` to completion (output appended to ``log``); :class:`E2EError` unless it exits 0."""
    argv = list(cmd) if user is None else ["runuser", "-u", user, "--", *cmd]
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise E2EError(f"{' '.join(cmd[:3])} ... did not finish within {timeout:.0f} s") from err
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise E2EError(f"{' '.join(cmd[:3])} ... exited with status {done.returncode}:\n{tail}")
    return done.stdout
