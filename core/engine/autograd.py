"""Scalar autograd: microgpt's Value, node for node, plus an op label and a recorder hook.

Every operation builds exactly the nodes microgpt builds (plain numbers become constant
nodes, `a - b` is `a + (-b)`, `a / b` is `a * b**-1`), so a recorded graph is microgpt's
graph. The only additions are the op label and `new_value_hook`, which is None unless a
recorder is active, so the plain training path pays one global load per node.

The op is the Value's class: each operation makes an instance of a small subclass (`Add`,
`Mul`, `Log`, ...) that adds no slot, only the class attribute `op`. So a Value keeps
microgpt's four slots (an `op` slot would make every Value 25% bigger, and the cyclic
collector walks every Value several times per step), `_local_grads` holds numbers only,
as in microgpt, and naming the op costs nothing at run time. The plain step must cost no
more than microgpt's (`bench` measures it): the operations fill a bare instance
(`_new(Mul)`) instead of calling the class, since a call runs `__init__` through a slow
C-level detour.
"""
import math

# Called with every new Value while a recorder is active (see core/trace/record.py).
new_value_hook = None


class Value:
    __slots__ = ("data", "grad", "_children", "_local_grads")
    op = "const"  # subclasses: '+', '*', '**k' (e.g. '**-1'), 'log', 'exp', 'relu', 'param'

    def __init__(self, data, children=(), local_grads=(), op="const"):
        self.data = data
        self.grad = 0
        self._children = children
        self._local_grads = local_grads
        if op != "const":
            self.__class__ = op_class(op)  # same slots, so the instance can take its op's class
        if new_value_hook is not None:
            new_value_hook(self)

    # Each operation sets the same four slots as __init__, then calls the hook.

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = _new(Add)
        out.data = self.data + other.data
        out.grad = 0
        out._children = (self, other)
        out._local_grads = (1, 1)
        if new_value_hook is not None:
            new_value_hook(out)
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = _new(Mul)
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


class Add(Value):
    __slots__ = ()
    op = "+"


class Mul(Value):
    __slots__ = ()
    op = "*"


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


_op_classes = {cls.op: cls for cls in (Value, Add, Mul, Log, Exp, ReLU, Param)}
_pow_classes = {}  # exponent -> the class of `x ** exponent`, labelled '**k', made on first use


def _pow_class(exponent):
    cls = _pow_classes[exponent] = _op_classes[f"**{exponent}"] = type("Pow", (Value,), {"__slots__": (), "op": f"**{exponent}"})
    return cls


def op_class(op):
    """The Value subclass whose instances are `op` nodes."""
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
