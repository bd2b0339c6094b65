"""The Trace of a live Value in this process: what `microgpt_viz.show(loss)` shows.

A script run by `--script` is watched from its start (core/script/child.py notes where every
Value is made); a Value handed over live was made before anyone watched, so its graph is read
as it stands: ops, data, grads, wiring and local gradients, parameter names from the caller's
variables, and positions from the loss's shape, but no scopes or source lines beyond the
caller's. Reading a micrograd-style graph runs each node's `_backward` to measure its local
gradients; every grad is put back afterwards, so the caller's Values are left as they were.
"""
import sys

from core.script import child_graph
from core.script.to_trace import trace_from_capture


def trace_of_value(value, frame=None):
    """A core.trace.record.Trace of the graph reachable from `value` (before or after backward()).

    frame: the caller's frame, whose variables name the parameters (default: the caller of this function).
    Raises TypeError for an object that is not an autograd Value of a known style.
    """
    frame = frame or sys._getframe(1)
    try:
        topo_grads = _grads_of(value)
        try:
            capture = child_graph.read_graph(value, {}, {})
        finally:
            _restore(topo_grads)
    except child_graph.Unsupported as e:
        raise TypeError(str(e)) from None
    topo = capture.pop("topo")
    capture.update(child_graph.read_namespaces(topo, frame, (type(value),)))
    caller = frame.f_code.co_filename
    capture["sites"] = [((), caller, frame.f_lineno)]
    capture["site"] = [0] * len(topo)
    return trace_from_capture(capture, script=caller)


def _children(v):
    kids = getattr(v, "_children", None)
    if kids is None:
        kids = getattr(v, "_prev", ())
    return kids


def _grads_of(root):
    """[(value, grad)] of every Value reachable from `root`, to put back after the graph is read."""
    if not (hasattr(root, "_children") or hasattr(root, "_prev")):
        raise child_graph.Unsupported(
            f"cannot show a {type(root).__name__}: show() takes an autograd Value "
            "(micrograd's _prev/_backward, or microgpt's _children/_local_grads)")
    seen, stack, grads = {id(root)}, [root], []
    while stack:
        v = stack.pop()
        grads.append((v, v.grad))
        for c in _children(v):
            if id(c) not in seen:
                seen.add(id(c))
                stack.append(c)
    return grads


def _restore(grads):
    for v, g in grads:
        v.grad = g
