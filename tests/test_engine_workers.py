"""The worker pool of independent runs: order of results, longest first, one pool, the caller's env,
Ctrl-C."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from fashion_lib.engine import workers


def test_results_in_order_and_longest_submitted_first() -> None:
    args = [(3,), (30,), (7,), (30,), (1,)]
    assert workers.submission_order(args, cost=lambda x: x) == [1, 3, 2, 0, 4]  # ties keep order
    assert workers.submission_order(args) == [0, 1, 2, 3, 4]
    assert workers.in_workers(abs, [(-2,), (5,), (-7,)], 1, cost=abs) == [2, 5, 7]  # serial
    assert workers.in_workers(abs, [(-2,), (5,), (-7,)], 2, cost=abs) == [2, 5, 7]  # spawned


def test_one_pool_per_process_with_the_callers_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pool kept between calls still runs each task where the caller points at that moment."""
    monkeypatch.setenv("FASHION_RUNS_DIR", "/first")
    monkeypatch.setenv("FASHION_DERIVED_DIR", "/gone-later")
    first = workers.in_workers(os.getenv, [("FASHION_RUNS_DIR",)] * 4, 2)
    pids = set(workers.in_workers(os.getpid, [()] * 4, 2))
    monkeypatch.setenv("FASHION_RUNS_DIR", "/second")
    monkeypatch.delenv("FASHION_DERIVED_DIR")
    second = workers.in_workers(os.getenv, [("FASHION_RUNS_DIR",), ("FASHION_DERIVED_DIR",)], 2)
    assert first == ["/first"] * 4 and second == ["/second", None]
    pids |= set(workers.in_workers(os.getpid, [()] * 8, 2))
    assert os.getpid() not in pids and len(pids) <= 2  # the same two workers every call


def test_a_failing_task_raises_in_the_caller() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        workers.in_workers(int, [("1",), ("x",), ("3",)], 2)
    assert workers.in_workers(int, [("1",), ("2",)], 2) == [1, 2]  # the pool still works


def _nap(seconds: float) -> float:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # short sleeps: a signal handler runs between them
        time.sleep(0.01)
    return seconds


def _nap_pid(seconds: float) -> int:
    _nap(seconds)
    return os.getpid()


def _signal_workers_soon(delay: float) -> None:
    """SIGINT to the pool's workers after `delay` seconds (as Jupyter signals a kernel's group)."""

    def send() -> None:
        time.sleep(delay)
        for pid in list(workers._POOLS[2]._processes):
            os.kill(pid, signal.SIGINT)

    threading.Thread(target=send, daemon=True).start()


def test_sigint_stops_running_tasks_and_spares_idle_workers() -> None:
    for _ in range(20):  # until both workers have started, initialised and taken a task
        if len(set(workers.in_workers(_nap_pid, [(0.3,), (0.3,)], 2))) == 2:
            break
    pool = workers._POOLS[2]
    pids = set(pool._processes)
    for pid in pids:  # idle workers: they used to die with a KeyboardInterrupt traceback
        os.kill(pid, signal.SIGINT)
    time.sleep(0.5)
    assert set(workers.in_workers(os.getpid, [()] * 4, 2)) <= pids  # served by the same ...
    assert workers._POOLS[2] is pool and set(pool._processes) == pids  # ... living workers
    assert all(p.is_alive() for p in pool._processes.values())
    _signal_workers_soon(1.0)
    with pytest.raises(KeyboardInterrupt):  # running tasks stop (not after their 60 s)
        workers.in_workers(_nap, [(60.0,), (60.0,)], 2)
    assert workers.in_workers(abs, [(-1,), (-2,)], 2) == [1, 2]  # and the pool works on
