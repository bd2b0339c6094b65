"""Where the overview draws each node of a Trace and in which colour bin, computed once per
Trace. No Qt here.

core/views/layout.py's overview_layout takes ~25 ms for a 70,000-node step, and binning and
sorting a million dots by colour 40-60 ms; the training worker computes both right after
recording (microgpt_viz/session/stepping.py), so the GUI thread only looks them up when the new
step arrives.
"""
import threading
import weakref
from dataclasses import dataclass

import numpy as np

from core.views.colour_scale import log_position
from core.views.layout import overview_layout

BINS = 12  # colour bins for non-zero gradients, plus one for exact zeros
DECADES = 5

_cache = weakref.WeakKeyDictionary()  # Trace -> (x, y); the arrays do not refer back to the Trace
_dots_cache = weakref.WeakKeyDictionary()  # Trace -> Dots
_lock = threading.Lock()


@dataclass(frozen=True)
class Dots:
    """The overview's dots in ascending colour bin, the order its rasteriser wants them in."""

    x: np.ndarray  # float, one per node, in bin order
    y: np.ndarray
    bins: np.ndarray  # uint8: 0 for an exactly zero grad, else 1..BINS (see bin_of)
    bounds: tuple  # (left, top, width, height) of all dots, width and height at least 1


def bin_of(grad):
    """0 for an exactly zero grad, else 1..BINS by log |grad| below a robust top (99.5th percentile)."""
    magnitude = np.abs(np.nan_to_num(np.asarray(grad, dtype=float), nan=np.inf))
    nonzero = magnitude[(magnitude > 0) & np.isfinite(magnitude)]
    top = float(np.percentile(nonzero, 99.5)) if nonzero.size else 1.0
    magnitude = np.where(np.isfinite(magnitude), magnitude, top)
    t = log_position(magnitude, top, DECADES)
    which = 1 + np.minimum((t * BINS).astype(int), BINS - 1)
    return np.where(magnitude > 0, which, 0)


def dots(trace):
    """The Dots of a Trace: its positions, coloured by |grad|, strongest last."""
    return _cached(_dots_cache, trace, _dots_of)


def _dots_of(trace):
    x, y = positions(trace)
    bins = np.asarray(bin_of(trace.grad), dtype=np.uint8)  # 13 bins: a byte, which numpy sorts by radix
    order = np.argsort(bins, kind="stable")
    bounds = (0.0, 0.0, 1.0, 1.0)
    if len(x):
        bounds = (float(x.min()), float(y.min()), float(np.ptp(x)) or 1.0, float(np.ptp(y)) or 1.0)
    return Dots(np.asarray(x, dtype=float)[order], np.asarray(y, dtype=float)[order], bins[order], bounds)


def positions(trace):
    """(x, y) numpy arrays indexed by node id."""
    return _cached(_cache, trace, overview_layout)


def _cached(cache, trace, build):
    """build(trace), kept in `cache` for as long as the Trace lives; the worker and the GUI thread
    both ask, so the cache is read and written under the lock (building runs outside it)."""
    with _lock:
        found = cache.get(trace)
    if found is None:
        found = build(trace)
        with _lock:
            cache[trace] = found
    return found


def forget(trace):
    """Drop the cached positions and dots (a benchmark of the overview's first paint lays out afresh)."""
    with _lock:
        _cache.pop(trace, None)
        _dots_cache.pop(trace, None)
