"""The wall-clock limit: returns in time, keeps outer timers (RQ's job timeout), works off the main thread."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import threading
import time

import pytest

import verify.decision
from verify.decision import decide
from verify.policy import Policy


@pytest.fixture
def slow_pipeline(monkeypatch):
    """Make the first step take ``seconds`` (interruptible, like real parsing work)."""
    real_open = verify.decision._open

    def install(seconds: float) -> None:
        def slow_open(*args, **kwargs):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                time.sleep(0.01)
            return real_open(*args, **kwargs)

        monkeypatch.setattr(verify.decision, "_open", slow_open)

    return install


@pytest.fixture
def restore_alarm():
    handler = signal.getsignal(signal.SIGALRM)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, handler)


def test_timeout_returns_in_time(signed_form, trust_policy, slow_pipeline):
    data = signed_form()
    slow_pipeline(5)
    policy = dataclasses.replace(trust_policy, timeout=0.3)
    started = time.monotonic()
    report = decide(data, policy)
    elapsed = time.monotonic() - started
    assert report.reasons[0].code == "too_large"
    assert "0.3 s" in report.reasons[0].message
    assert elapsed < 1.0


def test_outer_timer_and_handler_are_restored(signed_form, trust_policy, restore_alarm):
    data = signed_form()
    fired = []
    outer = lambda signum, frame: fired.append(signum)  # noqa: E731
    signal.signal(signal.SIGALRM, outer)
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    report = decide(data, trust_policy)
    assert report.verdict == "accepted"
    remaining, _ = signal.getitimer(signal.ITIMER_REAL)
    assert 90 < remaining <= 100
    assert signal.getsignal(signal.SIGALRM) is outer
    assert not fired


def test_earlier_outer_timer_still_fires_for_its_owner(signed_form, trust_policy, slow_pipeline, restore_alarm):
    """RQ's job timeout shorter than ours: we stop at its deadline, then its handler runs."""
    data = signed_form()
    fired = []
    signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(time.monotonic()))
    slow_pipeline(5)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    started = time.monotonic()
    report = decide(data, trust_policy)
    assert report.reasons[0].code == "too_large"
    time.sleep(0.05)
    assert fired and fired[0] - started < 1.0


def test_no_outer_timer_left_behind(signed_form, trust_policy, restore_alarm):
    data = signed_form()
    signal.setitimer(signal.ITIMER_REAL, 0)
    decide(data, trust_policy)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_off_the_main_thread(signed_form, trust_policy, slow_pipeline):
    data = signed_form()
    results = {}

    def run(name: str, policy: Policy) -> None:
        started = time.monotonic()
        results[name] = (decide(data, policy), time.monotonic() - started)

    t = threading.Thread(target=run, args=("ok", trust_policy))
    t.start()
    t.join(30)
    assert results["ok"][0].verdict == "accepted"

    slow_pipeline(3)
    t = threading.Thread(target=run, args=("slow", dataclasses.replace(trust_policy, timeout=0.3)))
    t.start()
    t.join(30)
    report, elapsed = results["slow"]
    assert report.reasons[0].code == "too_large"
    assert elapsed < 1.0


def test_inside_a_running_event_loop(signed_form, trust_policy):
    data = signed_form()

    async def handler():
        return decide(data, trust_policy)

    assert asyncio.run(handler()).verdict == "accepted"
