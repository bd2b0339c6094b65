import math
import random

import pytest

from core.engine.autograd import Value, topological_order


def numeric_grad(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize(
    "name, build, plain, x0",
    [
        ("add", lambda a: a + a * 3.0, lambda x: x + x * 3.0, 0.7),
        ("mul", lambda a: a * a * 2.5, lambda x: x * x * 2.5, -1.3),
        ("pow", lambda a: a**3, lambda x: x**3, 1.1),
        ("pow-0.5", lambda a: (a + 1e-5) ** -0.5, lambda x: (x + 1e-5) ** -0.5, 0.4),
        ("log", lambda a: a.log(), math.log, 2.2),
        ("exp", lambda a: a.exp(), math.exp, -0.6),
        ("relu+", lambda a: a.relu() ** 2, lambda x: max(0.0, x) ** 2, 0.9),
        ("relu-", lambda a: a.relu(), lambda x: max(0.0, x), -0.9),
        ("sub", lambda a: 1.5 - a - a * a, lambda x: 1.5 - x - x * x, 0.3),
        ("div", lambda a: 2.0 / a + a / 3.0, lambda x: 2.0 / x + x / 3.0, 1.7),
        ("neg", lambda a: -a * 4, lambda x: -x * 4, 0.25),
    ],
)
def test_each_op_matches_finite_differences(name, build, plain, x0):
    a = Value(x0)
    out = build(a)
    out.backward()
    assert out.data == pytest.approx(plain(x0), rel=1e-12)
    assert a.grad == pytest.approx(numeric_grad(plain, x0), rel=1e-6, abs=1e-9)


def test_subtraction_builds_microgpts_nodes():
    a, b = Value(2.0), Value(5.0)
    out = a - b
    # a + (b * -1): an add whose second child is a multiply by a fresh constant
    assert out.op == "+" and out._children[0] is a
    neg = out._children[1]
    assert neg.op == "*" and neg._children[0] is b
    assert neg._children[1].op == "const" and neg._children[1].data == -1
    assert len(topological_order(out)) == 5


def test_division_makes_a_fresh_power_node():
    e, total = Value(3.0), Value(4.0)
    out = e / total
    assert out.op == "*" and out._children[0] is e
    inv = out._children[1]
    assert inv.op == "**-1" and inv._children == (total,)
    assert out.data == pytest.approx(0.75)


def test_sum_starts_from_a_constant_zero():
    xs = [Value(float(i) + 1) for i in range(3)]
    total = sum(xs)
    nodes = topological_order(total)
    zeros = [v for v in nodes if v.op == "const" and v.data == 0]
    assert len(zeros) == 1
    assert len(nodes) == 3 + 1 + 3  # leaves, the constant 0, three adds


def test_square_counts_both_contributions():
    x = Value(3.0)
    y = x * x
    y.backward()
    assert y._children == (x, x)
    assert x.grad == 6.0


def test_backward_does_not_hit_recursion_limit_on_a_deep_graph():
    x = Value(1.0)
    y = x
    for _ in range(50_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0


def test_topological_order_matches_recursive_dfs():
    rng = random.Random(3)
    leaves = [Value(rng.uniform(-1, 1)) for _ in range(6)]
    nodes = list(leaves)
    for _ in range(60):
        a, b = rng.choice(nodes), rng.choice(nodes)
        nodes.append(rng.choice([a + b, a * b, a.exp() * 0.1, (a * a + 1.0).log()]))
    root = nodes[-1] + nodes[-2] + nodes[-7]

    order, seen = [], set()

    def visit(v):
        if v not in seen:
            seen.add(v)
            for c in v._children:
                visit(c)
            order.append(v)

    visit(root)
    assert topological_order(root) == order
