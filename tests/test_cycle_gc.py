"""The cyclic collector's pause (``pipeline.cycle_gc``): off inside, restored after, nested and threaded."""

from __future__ import annotations

import gc
import threading

import pytest

from pipeline import cycle_gc


@pytest.fixture(autouse=True)
def _collector_on():
    gc.enable()
    yield
    gc.enable()


def test_paused_inside_and_restored_after_even_on_error():
    with pytest.raises(RuntimeError), cycle_gc.paused():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_nested_pauses_end_with_the_outermost():
    with cycle_gc.paused():
        with cycle_gc.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner end does not switch it back on under the outer block
    assert gc.isenabled()


def test_a_caller_that_disabled_the_collector_keeps_it_disabled():
    gc.disable()
    with cycle_gc.paused():
        pass
    assert not gc.isenabled()


def test_pauses_from_two_threads_overlap():
    inside, release = threading.Event(), threading.Event()

    def other():
        with cycle_gc.paused():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(5)
    with cycle_gc.paused():
        pass
    assert not gc.isenabled()  # the other thread's pause still holds
    release.set()
    thread.join(5)
    assert gc.isenabled()


def test_cycles_made_during_a_pause_are_collected_after_it():
    class Node:
        pass

    with cycle_gc.paused():
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
    assert gc.isenabled()
    assert gc.collect() >= 2
