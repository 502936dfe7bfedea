"""Bounded symbolic work: persistent child processes with a hard per-call deadline.

Why not Math-Verify's own timeout: it uses SIGALRM, which only works in the main thread of
the main interpreter (it raises elsewhere: thread pools, async servers, trl reward workers),
and a signal cannot interrupt a long C-level operation (`10**10**10`) anyway. Why not a
thread: a Python thread cannot be killed. So sympy runs in a few persistent worker processes
(started with `subprocess`, which also works inside daemonic multiprocessing workers where
`multiprocessing` may not spawn children); the caller waits on the pipe with `select` and
kills the worker when the deadline passes. Safe to call from any thread and from forked
children (a forked child never touches its parent's workers).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

_WORKER_SCRIPT = str(Path(__file__).with_name("symbolic_worker.py"))
# Run the worker file without putting its folder on sys.path (its sibling types.py would
# shadow the standard library's `types`) and without importing ovlt in the child.
_BOOT = "import sys, runpy; sys.path.pop(0); runpy.run_path(sys.argv[1], run_name='__main__')"
# Starting a worker imports sympy + Math-Verify (1-3 s, more on a loaded machine); this is
# not charged to the caller's per-item deadline.
STARTUP_TIMEOUT_S = float(os.environ.get("OVLT_VERIFY_WORKER_STARTUP_S", "120"))
# Extra time past the caller's deadline before the hard kill: the worker's own SIGALRM
# usually answers "timeout" first, which keeps the (warm) process alive.
_KILL_GRACE_S = 0.5


def _default_size() -> int:
    env = os.environ.get("OVLT_VERIFY_WORKERS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(4, os.cpu_count() or 1))


class _Worker:
    def __init__(self, argv: tuple[str, ...] = ()) -> None:
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        self.owner_pid = os.getpid()
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c", _BOOT, _WORKER_SCRIPT, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            env=env,
        )
        self._buf = b""
        self.alive = True
        ready = self._read_line(time.monotonic() + STARTUP_TIMEOUT_S)
        if ready is None or ready.get("status") != "ready":
            self.kill()
            raise RuntimeError("symbolic worker did not start")

    def _read_line(self, deadline: float) -> dict | None:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:  # the worker died (e.g. killed by the OOM killer)
                self.alive = False
                return {"status": "unparseable", "detail": "worker died"}
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return {"status": "unparseable", "detail": "bad worker reply"}

    def call(self, request: dict, timeout_s: float) -> dict:
        request = dict(request, t=timeout_s)
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode("utf-8", "replace"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            self.alive = False
            return {"status": "unparseable", "detail": "worker died"}
        reply = self._read_line(time.monotonic() + timeout_s + _KILL_GRACE_S)
        if reply is None:
            self.kill()
            return {"status": "timeout", "detail": "killed"}
        return reply

    def kill(self) -> None:
        self.alive = False
        if self.owner_pid != os.getpid():
            return  # inherited through fork: the parent owns this process
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def forget(self) -> None:
        """In a forked child: drop the inherited pipe ends without touching the process."""
        self.alive = False
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                os.close(stream.fileno())
            except (OSError, ValueError):
                pass


class WorkerPool:
    """Up to `size` workers, started lazily, handed out one caller at a time."""

    def __init__(self, size: int | None = None, argv: tuple[str, ...] = ()) -> None:
        self.size = size or _default_size()
        self.argv = argv  # extra worker arguments (a worker mode, see symbolic_worker.py)
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._count = 0
        self._broken_until = 0.0
        self.stats = {"calls": 0, "timeouts": 0, "kills": 0, "starts": 0}

    def _acquire(self) -> _Worker | None:
        with self._cond:
            while True:
                while self._idle:
                    w = self._idle.pop()
                    if w.alive and w.proc.poll() is None:
                        return w
                    self._count -= 1
                if self._count < self.size:
                    if time.monotonic() < self._broken_until:
                        return None
                    self._count += 1
                    break
                self._cond.wait()
        try:
            w = _Worker(self.argv)
            with self._cond:
                self.stats["starts"] += 1
            return w
        except (OSError, RuntimeError):
            with self._cond:
                self._count -= 1
                self._broken_until = time.monotonic() + 30.0
                self._cond.notify()
            return None

    def _release(self, w: _Worker, reply: dict) -> None:
        with self._cond:
            self.stats["calls"] += 1
            if reply.get("status") == "timeout":
                self.stats["timeouts"] += 1
                self.stats["kills"] += reply.get("detail") == "killed"
            if w.alive:
                self._idle.append(w)
            else:
                self._count -= 1
            self._cond.notify()

    def call(self, request: dict, timeout_s: float) -> dict:
        w = self._acquire()
        if w is None:
            return {"status": "unparseable", "detail": "symbolic worker unavailable"}
        reply = {"status": "unparseable", "detail": "worker call failed"}
        try:
            reply = w.call(request, timeout_s)
        finally:
            self._release(w, reply)
        return reply

    def close(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for w in idle:
            w.kill()

    def forget(self) -> None:
        for w in self._idle:
            w.forget()
        self._idle = []
        self._count = 0
        self._cond = threading.Condition()


_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()


def pool() -> WorkerPool:
    global _POOL
    if _POOL is None:
        with _POOL_LOCK:
            if _POOL is None:
                _POOL = WorkerPool()
    return _POOL


def run_symbolic(request: dict, timeout_s: float) -> dict:
    """Run one request in a worker; a reply dict with "status", never an exception."""
    return pool().call(request, max(0.01, float(timeout_s)))


# Pools of workers started in another mode (extra arguments): MATH-V's own LaTeX parser
# needs a process of its own, since it pins another ANTLR runtime than Math-Verify's.
_MODE_POOLS: dict[tuple[str, ...], WorkerPool] = {}


def run_symbolic_mode(argv: tuple[str, ...], request: dict, timeout_s: float) -> dict:
    """As `run_symbolic`, in a worker started with the extra arguments `argv`."""
    with _POOL_LOCK:
        p = _MODE_POOLS.get(argv)
        if p is None:
            p = _MODE_POOLS[argv] = WorkerPool(argv=argv)
    return p.call(request, max(0.01, float(timeout_s)))


def _after_fork_in_child() -> None:
    global _POOL, _POOL_LOCK
    _POOL_LOCK = threading.Lock()
    if _POOL is not None:
        _POOL.forget()
        _POOL = None
    for p in _MODE_POOLS.values():
        p.forget()
    _MODE_POOLS.clear()


def _shutdown() -> None:
    if _POOL is not None:
        _POOL.close()
    for p in _MODE_POOLS.values():
        p.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_shutdown)
