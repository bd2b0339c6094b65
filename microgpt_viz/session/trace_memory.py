"""Keeping Python's memory management from freezing the window over big Traces.

A recorded step is a few arrays, but once something has asked for its networkx graph
(trace.graph, built on first use) it is also ~600k small Python containers. Two things
would otherwise stop every thread at once, since both run in C while holding the GIL:

- a full cyclic garbage collection walks all of them (0.3 s and more). Work that makes many
  containers in a worker (recording a step, a view's render and layout) runs with the
  collector paused, so no collection starts midway in whichever thread allocates next, and
  then moves everything alive into the collector's permanent generation (gc.freeze, O(1)),
  where it is never walked again (`made_quietly`); `settle()` does the same for a new
  picture's items;
- freeing a dropped trace in one cascade (60-150 ms). `release(trace)` breaks the only
  reference cycles it holds (networkx caches views such as G.edges that point back at the
  graph; core's index cache keeps the trace alive) and hands it to a janitor thread that
  waits until nobody else refers to it, then takes the graph apart a dict entry at a time,
  so the GIL changes hands between pieces.
"""
import gc
import queue
import sys
import threading

import core.trace.index
import core.trace.record
from microgpt_viz.session.background import yield_to_the_window

# networkx properties cached on the graph that refer back to it
_CYCLIC_VIEWS = ("edges", "in_edges", "out_edges", "degree", "in_degree", "out_degree")
_POLL_S = 0.5


def collector_paused(work):
    """work() with the cyclic collector paused (for every thread: it is the process's).

    A step's Values form no cycles and die by reference counting; with the collector on,
    the tens of thousands that live through one step get promoted and then trigger full
    collections that hold the GIL long enough to freeze the window.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return work()
    finally:
        if was_enabled:
            gc.enable()


def made_quietly(work):
    """work() with the collector paused, then settle(): what it made (a view rendered and laid
    out in the layout worker: a few hundred thousand containers for a big picture) is never
    walked by a full collection, which the next allocation in any thread, the window's
    included, would otherwise start (15-45 ms holding the GIL, several times a minute)."""
    def work_then_settle():
        made = work()
        settle()
        return made

    return collector_paused(work_then_settle)


core.trace.record.leave_the_collector_to_me()  # settle() freezes everything after each step anyway


def settle():
    """Move everything alive into the permanent generation (gc.freeze, O(1)).

    Called with each new Trace and each new picture on screen: the window makes no cyclic
    garbage (a full collection in a long session frees nothing), yet each full collection
    walked every object made since the last freeze, a picture's thousands of Qt items the
    slowest of them (35 ms for 100k objects, 40-70 ms under load, all holding the GIL).
    """
    gc.freeze()


def release(trace):
    if trace is None:
        return
    graph = trace.built_graph  # never build it only to take it apart
    if graph is not None:
        for name in _CYCLIC_VIEWS:
            graph.__dict__.pop(name, None)
    # the index would go with the trace anyway; dropping it now frees its arrays before the
    # janitor has finished taking the trace apart
    core.trace.index.index_of.cache.pop(trace, None)
    _janitor().inbox.put(trace)


class _Janitor(threading.Thread):
    def __init__(self):
        super().__init__(name="microgpt-viz trace janitor", daemon=True)
        self.inbox = queue.Queue()
        self.dismantled = 0  # traces taken apart so far (tests read it)

    def run(self):
        yield_to_the_window()
        waiting = []
        while True:
            try:
                waiting.append(self.inbox.get(timeout=_POLL_S))
            except queue.Empty:
                pass
            waiting = self._sweep(waiting)

    def _sweep(self, waiting):
        """Take apart the traces nobody else refers to any more; return the others."""
        still_used = []
        while waiting:
            trace = waiting.pop()
            # references now: `trace` here and getrefcount's argument; for the graph: the
            # trace and getrefcount's argument. More means a widget still shows it.
            if sys.getrefcount(trace) <= 2 and _graph_unused(trace):
                _dismantle(trace)
                self.dismantled += 1
            else:
                still_used.append(trace)
            del trace
        return still_used


def _graph_unused(trace):
    graph = trace.built_graph
    # references: the trace's cache, getrefcount's argument and `graph` here
    return graph is None or sys.getrefcount(graph) <= 3


def _dismantle(trace):
    graph = trace.built_graph
    if graph is None:
        return  # arrays and tuples: freed in one go, quickly
    for table in (graph._succ, graph._pred, graph._node, graph._adj):
        while table:
            table.popitem()


_the_janitor = None
_lock = threading.Lock()


def _janitor():
    global _the_janitor
    with _lock:
        if _the_janitor is None:
            _the_janitor = _Janitor()
            _the_janitor.start()
        return _the_janitor
