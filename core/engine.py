"""Scalar autograd: microgpt's Value, node for node, plus an op label and a recorder hook.

Every operation builds exactly the nodes microgpt builds (plain numbers become constant
nodes, `a - b` is `a + (-b)`, `a / b` is `a * b**-1`), so a recorded graph is microgpt's
graph. The only additions are the `op` label and `new_value_hook`, which is None unless a
recorder is active, so the plain training path pays one global load per node.
"""
import math

# Called with every new Value while a recorder is active (see core/record.py).
new_value_hook = None

# `a ** k` nodes are labelled '**k'; the labels are interned so the plain path only pays a lookup.
_pow_labels = {}


def _pow_label(exponent):
    label = _pow_labels.get(exponent)
    if label is None:
        label = _pow_labels[exponent] = f"**{exponent}"
    return label


class Value:
    __slots__ = ("data", "grad", "_children", "_local_grads", "op")

    def __init__(self, data, children=(), local_grads=(), op="const"):
        self.data = data
        self.grad = 0
        self._children = children
        self._local_grads = local_grads
        self.op = op
        if new_value_hook is not None:
            new_value_hook(self)

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), (1, 1), "+")

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data), "*")

    def __pow__(self, other):
        return Value(self.data**other, (self,), (other * self.data ** (other - 1),), _pow_label(other))

    def log(self):
        return Value(math.log(self.data), (self,), (1 / self.data,), "log")

    def exp(self):
        return Value(math.exp(self.data), (self,), (math.exp(self.data),), "exp")

    def relu(self):
        return Value(max(0, self.data), (self,), (float(self.data > 0),), "relu")

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return other + (-self)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other**-1

    def __rtruediv__(self, other):
        return other * self**-1

    def __repr__(self):
        return f"Value(data={self.data!r}, grad={self.grad!r}, op={self.op!r})"

    def backward(self):
        """Accumulate d(self)/d(node) into every node's grad; returns the topological order."""
        topo = topological_order(self)
        self.grad = 1
        for v in reversed(topo):
            v_grad = v.grad
            for child, local_grad in zip(v._children, v._local_grads):
                child.grad += local_grad * v_grad
        return topo


def topological_order(root):
    """Children before parents, in the order microgpt's recursive DFS produces.

    Iterative, so deep graphs (n_layer 4, block_size 16) never meet Python's recursion limit.
    """
    topo = []
    visited = {root}
    stack = [(root, iter(root._children))]
    push, pop, append, add = stack.append, stack.pop, topo.append, visited.add
    while stack:
        node, children = stack[-1]
        for child in children:
            if child not in visited:
                add(child)
                push((child, iter(child._children)))
                break
        else:
            pop()
            append(node)
    return topo
