"""Scalar autograd: microgpt's Value, node for node, plus an op label and a recorder hook.

Every operation builds exactly the nodes microgpt builds (plain numbers become constant
nodes, `a - b` is `a + (-b)`, `a / b` is `a * b**-1`), so a recorded graph is microgpt's
graph. The only additions are the op label and `new_value_hook`, which is None unless a
recorder is active, so the plain training path pays one global load per node.

`value.op` says what made a Value, and `_local_grads` holds numbers only, as in microgpt.
The label costs the plain step nothing (`bench` holds it to microgpt's speed), which decides
where it lives:
- the rarer ops are slot-less subclasses with `op` as a class attribute: `Pow`, `Log`, `Exp`,
  `ReLU`, and `Param` for weight entries;
- `+`, `*` and constants, nine in ten nodes of a step, stay plain `Value`s. CPython caches
  attribute reads per class, so if they were subclasses too, every read in the backward
  loop would meet several classes and the step would cost 7% more (measured; a fifth `op`
  slot, making every Value 25% bigger, costs as much). A plain Value's op follows from its
  shape: no children, a constant; two children, a `+` when its local gradients are the one
  shared tuple ADD_LOCAL_GRADS = (1, 1) that every `+` holds, else a `*`.
The operations fill a bare instance (`_new(Value)`) instead of calling the class, since a
call runs `__init__` through a slow C-level detour.
"""
import math

# Called with every new Value while a recorder is active (see core/trace/record.py).
new_value_hook = None

# The local gradients of every `+` node: one shared tuple, which is how a `+` is told from a `*`.
ADD_LOCAL_GRADS = (1, 1)


class Value:
    __slots__ = ("data", "grad", "_children", "_local_grads")

    def __init__(self, data, children=(), local_grads=(), op="const"):
        self.data = data
        self.grad = 0
        self._children = children
        self._local_grads = _local_grads_for(op, children, local_grads)
        if op not in ("const", "+", "*"):
            self.__class__ = op_class(op)  # same slots, so the instance can take its op's class
        if new_value_hook is not None:
            new_value_hook(self)

    @property
    def op(self):
        """'+', '*', '**k' (e.g. '**-1'), 'log', 'exp', 'relu', 'param' or 'const'."""
        if not self._children:
            return "const"
        return "+" if self._local_grads is ADD_LOCAL_GRADS else "*"

    # Each operation sets the same four slots as __init__, then calls the hook.

    def __add__(self, other):
        other = other if isinstance(other, Value) else constant(other)
        out = _new(Value)
        out.data = self.data + other.data
        out.grad = 0
        out._children = (self, other)
        out._local_grads = ADD_LOCAL_GRADS
        if new_value_hook is not None:
            new_value_hook(out)
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else constant(other)
        out = _new(Value)
        out.data = self.data * other.data
        out.grad = 0
        out._children = (self, other)
        out._local_grads = (other.data, self.data)
        if new_value_hook is not None:
            new_value_hook(out)
        return out

    def __pow__(self, other):
        out = _new(_pow_classes.get(other) or _pow_class(other))
        out.data = self.data**other
        out.grad = 0
        out._children = (self,)
        out._local_grads = (other * self.data ** (other - 1),)
        if new_value_hook is not None:
            new_value_hook(out)
        return out

    def log(self):
        out = _new(Log)
        out.data = math.log(self.data)
        out.grad = 0
        out._children = (self,)
        out._local_grads = (1 / self.data,)
        if new_value_hook is not None:
            new_value_hook(out)
        return out

    def exp(self):
        out = _new(Exp)
        out.data = math.exp(self.data)
        out.grad = 0
        out._children = (self,)
        out._local_grads = (math.exp(self.data),)
        if new_value_hook is not None:
            new_value_hook(out)
        return out

    def relu(self):
        out = _new(ReLU)
        out.data = max(0, self.data)
        out.grad = 0
        out._children = (self,)
        out._local_grads = (float(self.data > 0),)
        if new_value_hook is not None:
            new_value_hook(out)
        return out

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
        # Values have at most two children; unrolling saves a zip per node. The float
        # operations and their order are microgpt's, so grads match it bit for bit.
        for v in reversed(topo):
            children = v._children
            if not children:
                continue
            v_grad = v.grad
            local_grads = v._local_grads
            children[0].grad += local_grads[0] * v_grad
            if len(children) > 1:
                children[1].grad += local_grads[1] * v_grad
                if len(children) > 2:
                    for child, local_grad in zip(children[2:], local_grads[2:]):
                        child.grad += local_grad * v_grad
        return topo


_new = object.__new__


def constant(data):
    """A constant leaf, as Value(data) makes it, without the cost of calling the class."""
    out = _new(Value)
    out.data = data
    out.grad = 0
    out._children = ()
    out._local_grads = ()
    if new_value_hook is not None:
        new_value_hook(out)
    return out


class Log(Value):
    __slots__ = ()
    op = "log"


class Exp(Value):
    __slots__ = ()
    op = "exp"


class ReLU(Value):
    __slots__ = ()
    op = "relu"


class Param(Value):
    """An entry of a weight matrix: a leaf like a constant, but one that training updates."""
    __slots__ = ()
    op = "param"


_op_classes = {cls.op: cls for cls in (Log, Exp, ReLU, Param)}
_pow_classes = {}  # exponent -> the class of `x ** exponent`, labelled '**k', made on first use


def _local_grads_for(op, children, local_grads):
    """The local gradients to store for a Value made by Value(...) with `op`: a `+` holds ADD_LOCAL_GRADS."""
    if op == "+":
        if len(children) != 2 or tuple(local_grads) != (1, 1):
            raise ValueError("a '+' node has two children and local gradients (1, 1)")
        return ADD_LOCAL_GRADS
    if op == "const" and children:
        raise ValueError("a Value with children needs the op that made it")
    if op == "*":
        if len(children) != 2:
            raise ValueError("a '*' node has two children")
        if local_grads is ADD_LOCAL_GRADS:
            return tuple(list(local_grads))  # an equal tuple that is not the one marking `+`
    return local_grads


def _pow_class(exponent):
    label = f"**{exponent}"
    cls = _pow_classes[exponent] = _op_classes[label] = type("Pow", (Value,), {"__slots__": (), "op": label})
    return cls


def op_class(op):
    """The Value subclass whose instances are `op` nodes (not for '+', '*' and 'const': those are plain Values)."""
    cls = _op_classes.get(op)
    if cls is not None:
        return cls
    if op.startswith("**"):
        text = op[2:]
        try:
            exponent = int(text)
        except ValueError:
            try:
                exponent = float(text)
            except ValueError:
                exponent = None
        if exponent is not None:
            return _pow_classes.get(exponent) or _pow_class(exponent)
    raise ValueError(f"unknown op {op!r}")


def topological_order(root):
    """Children before parents, in the order microgpt's recursive DFS produces.

    Iterative, so deep graphs (n_layer 4, block_size 16) never meet Python's recursion
    limit. The stack holds bare Values: a node is pushed back under a None marker before
    its children, so popping the marker means its children are done and it can be emitted.
    Children are pushed last-first, so the first child is explored first, as in the
    recursion; a child already reached through an earlier sibling is skipped when popped.
    Nothing is allocated per node, which keeps the cyclic collector out of the plain step.
    """
    topo = []
    visited = set()
    stack = [root]
    push, pop, emit, add = stack.append, stack.pop, topo.append, visited.add
    while stack:
        node = pop()
        if node is None:
            emit(pop())
            continue
        if node in visited:
            continue
        add(node)
        children = node._children
        if not children:
            emit(node)
            continue
        push(node)
        push(None)
        if len(children) == 2:
            child = children[1]
            if child not in visited:
                push(child)
            child = children[0]
            if child not in visited:
                push(child)
        else:
            for child in reversed(children):
                if child not in visited:
                    push(child)
    return topo
