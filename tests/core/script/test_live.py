"""The Trace of a live Value (core/script/live.py), what `microgpt_viz.show(loss)` opens on."""
import math
import sys

import pytest

from core.script.live import trace_of_value


class TupleValue:
    """microgpt's style, written here: children and local gradients as tuples, no op names."""

    def __init__(self, data, children=(), local_grads=()):
        self.data, self.grad = data, 0
        self._children, self._local_grads = children, local_grads

    def __add__(self, other):
        return TupleValue(self.data + other.data, (self, other), (1, 1))

    def __mul__(self, other):
        return TupleValue(self.data * other.data, (self, other), (other.data, self.data))

    def exp(self):
        e = math.exp(self.data)
        return TupleValue(e, (self,), (e,))

    def backward(self):
        topo, seen = [], set()

        def build(v):
            if id(v) not in seen:
                seen.add(id(v))
                for c in v._children:
                    build(c)
                topo.append(v)

        build(self)
        self.grad = 1
        for v in reversed(topo):
            for c, g in zip(v._children, v._local_grads):
                c.grad += g * v.grad


@pytest.fixture
def micrograd_value(scripts, monkeypatch):
    monkeypatch.syspath_prepend(str(scripts.folder))
    from micrograd_engine import Value
    yield Value
    sys.modules.pop("micrograd_engine", None)


def test_a_tuples_value_before_and_after_backward():
    params = {"w": [[TupleValue(0.5), TupleValue(-2.0)]]}
    x = TupleValue(3.0)
    loss = (params["w"][0][0] * x + params["w"][0][1]).exp()
    before = trace_of_value(loss)
    assert before.op == ("param", "const", "*", "param", "+", "exp")
    assert before.grad.tolist() == [0.0] * 6  # no backward yet: grads as they stand
    loss.backward()
    after = trace_of_value(loss)
    assert after.data[-1] == loss.data and after.grad[-1] == 1
    assert after.grad[0] == params["w"][0][0].grad == pytest.approx(3.0 * math.exp(-0.5))
    assert after.param_nodes == {"w": (0, 3)}  # named after the caller's own variable
    assert after.scope[0] == "params/w" and after.graph.nodes[2]["file"] == __file__


def test_a_micrograd_value_keeps_its_grads_after_being_read(micrograd_value):
    Value = micrograd_value
    a, b = Value(2.0), Value(-3.0)
    loss = (a * b + a).relu() + a ** 2
    loss.backward()
    grads = (a.grad, b.grad, loss.grad)
    trace = trace_of_value(loss)
    assert (a.grad, b.grad, loss.grad) == grads  # reading ran each _backward, then put the grads back
    assert trace.op.count("relu") == 1 and trace.op.count("**") == 1
    assert trace.data[trace.loss_node] == loss.data and trace.grad[trace.loss_node] == 1


def test_something_that_is_not_a_value_is_refused():
    with pytest.raises(TypeError, match="show\\(\\) takes an autograd Value"):
        trace_of_value(3.0)
