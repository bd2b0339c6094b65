"""Where the overview draws each node of a Trace, computed once per Trace. No Qt here.

core/views/layout.py's overview_layout takes ~25 ms for a 70,000-node step; the training worker
computes it right after recording (microgpt_viz/session/stepping.py), so the GUI thread only looks
it up when the new step arrives.
"""
import threading
import weakref

from core.views.layout import overview_layout

_cache = weakref.WeakKeyDictionary()  # Trace -> (x, y); the arrays do not refer back to the Trace
_lock = threading.Lock()


def positions(trace):
    """(x, y) numpy arrays indexed by node id."""
    with _lock:
        found = _cache.get(trace)
    if found is None:
        found = overview_layout(trace)
        with _lock:
            _cache[trace] = found
    return found


def forget(trace):
    """Drop the cached positions (a benchmark of the overview's first paint lays out afresh)."""
    with _lock:
        _cache.pop(trace, None)
