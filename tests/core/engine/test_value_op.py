"""A Value says what made it (`value.op`) while `_local_grads` holds numbers only, as in microgpt."""
import math
import re

import pytest

from core.engine.autograd import ADD_LOCAL_GRADS, Value
from core.engine.config import preset
from core.engine.model import step_loss
from core.engine.train import Trainer


def test_each_operation_names_its_op():
    a, b = Value(2.0), Value(3.0)
    made = {
        "+": a + b, "*": a * b, "**2": a**2, "**-1": a**-1, "**-0.5": a**-0.5,
        "log": a.log(), "exp": a.exp(), "relu": a.relu(), "const": a,
    }
    assert {op: v.op for op, v in made.items()} == {op: op for op in made}
    assert Value(0.5, op="param").op == "param"
    # sugar builds microgpt's nodes: a - b is a + (-b), a / b is a * b**-1
    assert (a - b).op == "+" and (a - b)._children[1].op == "*"
    assert (a / b).op == "*" and (a / b)._children[1].op == "**-1"
    assert "op='exp'" in repr(a.exp())


def test_local_grads_are_numbers_paired_with_children_in_a_whole_step():
    trainer = Trainer(["emma", "olivia", "ava"], preset("latest"))
    loss, _ = step_loss(trainer.model, trainer.tokenizer.encode("emma"))
    topo = loss.backward()
    ops = set()
    for v in topo:
        ops.add(v.op)
        assert len(v._local_grads) == len(v._children)
        assert all(isinstance(g, (int, float)) and not isinstance(g, bool) for g in v._local_grads), v
    assert {"+", "*", "log", "exp", "relu", "const", "param", "**-1", "**-0.5"} <= ops


def test_a_plus_is_told_from_a_times_only_by_its_shared_local_grads():
    a, b = Value(1.0), Value(1.0)
    # a * 1 has local gradients equal to (1, 1) in value, but it is a product
    product = a * 1
    assert product._local_grads == (1, 1.0) and product.op == "*"
    assert (a + b)._local_grads is ADD_LOCAL_GRADS
    made_plus = Value(2.0, (a, b), [1, 1], op="+")
    assert made_plus.op == "+" and made_plus._local_grads is ADD_LOCAL_GRADS
    made_times = Value(1.0, (a, b), ADD_LOCAL_GRADS, op="*")
    assert made_times.op == "*" and made_times._local_grads == (1, 1)


@pytest.mark.parametrize("args, message", [
    ((2.0, (Value(1.0), Value(1.0)), (2, 1)), "local gradients (1, 1)"),
    ((2.0, (Value(1.0),), (1,)), "two children"),
])
def test_a_plus_that_is_no_plus_is_refused(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Value(*args, op="+")


def test_unknown_ops_and_childless_ops_are_refused():
    with pytest.raises(ValueError, match="unknown op"):
        Value(1.0, (Value(1.0),), (1.0,), op="tanh")
    with pytest.raises(ValueError, match="needs the op"):
        Value(1.0, (Value(1.0),), (1.0,))


def test_pow_labels_follow_the_exponent_as_written():
    x = Value(4.0)
    assert (x**0.5).op == "**0.5" and math.isclose((x**0.5).data, 2.0)
    assert Value(0.25, (x,), (-0.0625,), op="**-1").op == "**-1"
    assert type(x**-1) is type(Value(0.25, (x,), (-0.0625,), op="**-1"))  # one class per exponent
