"""Independent runs in worker processes: one spawned pool per process, the longest runs first.

``in_workers(task, args, workers, cost=None)`` is ``[task(*a) for a in args]``. With more than one
worker and more than one task, the tasks run in a pool of ``workers`` spawned processes:

- spawned, not forked: a worker starts from a clean interpreter and inherits no torch thread pool
  or open file; a script that calls it needs the usual ``if __name__ == "__main__":`` guard
  (notebooks and pytest need nothing);
- one pool per process and worker count, started on first use and kept until the process exits
  (a worker also exits by itself when that process is killed), so the workers import the library
  and fill their per-process caches (datasets read once) once, not once per call;
- every task runs with the caller's ``FASHION_*`` environment of the moment of the call (data and
  runs folders), so a pool started earlier never writes where the caller no longer points;
- tasks are submitted in decreasing ``cost`` (longest processing time first): the workers then
  finish close together instead of one idling while the other runs the last long task. Results
  come back in the order of ``args``; a task's result does not depend on the worker it ran in;
- Ctrl-C (SIGINT; Jupyter interrupts and shuts a kernel down by signalling its whole process
  group) stops a task that is running, which then raises in the caller, and leaves an idle worker
  waiting quietly for the next task (it used to die with a KeyboardInterrupt traceback each).

A worker never starts a pool of its own: a call from inside a worker runs serially.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

__all__ = ["ENV_PREFIX", "in_workers", "submission_order"]

ENV_PREFIX = "FASHION_"

_POOLS: dict[int, ProcessPoolExecutor] = {}
_BUSY = threading.Event()  # in a worker: set while a task runs


def submission_order(
    args: Sequence[tuple[Any, ...]], cost: Callable[..., float] | None = None
) -> list[int]:
    """Indices of ``args`` in the order they are submitted: decreasing cost, ties in given order."""
    if cost is None:
        return list(range(len(args)))
    return sorted(range(len(args)), key=lambda i: -cost(*args[i]))


def _on_interrupt(signum: int, frame: object) -> None:
    """In a worker: SIGINT interrupts a running task; an idle worker ignores it."""
    if _BUSY.is_set():
        raise KeyboardInterrupt


def _start_worker(parent: int) -> None:
    """In a worker: exit when the process that started the pool is gone (even if killed), and
    take SIGINT only while a task runs (`_on_interrupt`)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
    signal.signal(signal.SIGINT, _on_interrupt)


def _pool(workers: int) -> ProcessPoolExecutor:
    pool = _POOLS.get(workers)
    if pool is None:
        context = multiprocessing.get_context("spawn")
        pool = _POOLS[workers] = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
        )
    return pool


def _run(env: dict[str, str], task: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """In a worker: take the caller's ``FASHION_*`` environment, then run the task."""
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX) and k not in env]:
        del os.environ[key]
    os.environ.update(env)
    _BUSY.set()
    try:
        return task(*args)
    finally:
        _BUSY.clear()


def in_workers(
    task: Callable[..., Any],
    args: Sequence[tuple[Any, ...]],
    workers: int,
    cost: Callable[..., float] | None = None,
) -> list[Any]:
    """``[task(*a) for a in args]``, in ``workers`` spawned processes when more than one.

    Args:
        task: a picklable (module-level) function.
        args: one argument tuple per task.
        workers: worker processes (1: run here, in order).
        cost: ``cost(*a)`` estimates a task's run time; the longest tasks start first.

    Returns:
        The results, in the order of ``args``. If a task raises, the tasks not yet started are
        cancelled, the running ones finish, and the exception propagates.
    """
    if workers <= 1 or len(args) <= 1 or multiprocessing.parent_process() is not None:
        return [task(*a) for a in args]
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    pool = _pool(workers)
    futures: dict[int, Future[Any]] = {}
    try:
        for i in submission_order(args, cost):
            futures[i] = pool.submit(_run, env, task, tuple(args[i]))
        return [futures[i].result() for i in range(len(args))]
    except BaseException as err:
        for future in futures.values():
            future.cancel()
        wait(futures.values())
        if isinstance(err, BrokenProcessPool):  # a worker died: the next call starts a new pool
            _POOLS.pop(workers, None)
            pool.shutdown(wait=False)
        raise
