"""Tables derived from a Trace, built on first use and dropped with the Trace.

Views, search, replay and the debugging tools each flatten a Trace into arrays once and
reuse them. The cache is keyed weakly by the Trace, so what it builds must not hold the
Trace strongly (a weak reference is fine): otherwise the entry keeps its own key, and every
step ever recorded (100+ MB each) stays in memory.
"""
import weakref


def per_trace(build):
    """`build(trace)`, memoised per Trace for as long as the Trace lives."""
    cache = weakref.WeakKeyDictionary()

    def get(trace):
        value = cache.get(trace)
        if value is None:
            value = cache[trace] = build(trace)
        return value

    get.cache = cache  # for callers that must drop an entry early
    get.__doc__ = f"The {build.__name__} of a Trace, built once and kept as long as the Trace lives."
    return get
