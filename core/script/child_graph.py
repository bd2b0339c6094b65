"""Reading the graph of a user's own autograd Value class: plain lists a Trace can be built from.

Loaded by core/script/child.py inside the user's process (by file path, under a private
name, so no package of ours is imported there); it uses the standard library only.
Three styles of Value are read:
- (a) micrograd: `_prev` set, `_op` label, a `_backward` closure. The operands' order and
  repeats (x * x) come from the closure's `self` / `other`; local gradients are measured by
  running `_backward` with the node's grad at 1.
- (b) `_children` and `_local_grads` tuples without op names, and (c) the same with
  `__slots__`: ops are inferred from the numbers (infer_op).
Parameters are named after the script's own containers (ParamFinder).
"""
import math
import os
import site
import sys
import sysconfig
import types

HERE = os.path.dirname(os.path.realpath(__file__))
OUR_FILES = {os.path.join(HERE, name) for name in ("child.py", "child_graph.py", "paused_child.py")}

# How the method a Value is made in names its operation, when the numbers leave a doubt.
HINT_OPS = {
    "__add__": "+", "__radd__": "+", "__mul__": "*", "__rmul__": "*", "__pow__": "**",
    "log": "log", "exp": "exp", "relu": "relu", "tanh": "tanh",
}
# micrograd-style `_op` labels -> our op names ('**k' is handled apart).
LABEL_OPS = {"+": "+", "*": "*", "relu": "relu", "exp": "exp", "log": "log", "tanh": "tanh"}
SKIPPED_TYPES = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


class Unsupported(Exception):
    """A Value class this module cannot read; the message says why in one line."""


def _library_dirs():
    paths = sysconfig.get_paths()
    dirs = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    try:
        dirs.update(site.getsitepackages())
        dirs.add(site.getusersitepackages())
    except AttributeError:  # some embedded interpreters lack these
        pass
    return tuple(os.path.realpath(d) + os.sep for d in dirs if d)


LIBRARY_DIRS = _library_dirs()


def is_user_file(filename):
    """True for the user's own source files: not frozen, not the standard library or site-packages, not us."""
    if not filename or filename.startswith("<"):
        return False
    real = os.path.realpath(filename)
    return real not in OUR_FILES and not real.startswith(LIBRARY_DIRS)


# --------------------------------------------------------------------------- ops


def _same(x, y):
    try:
        return x == y or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-300)
    except TypeError:  # complex or not a number
        return False


def _snap(k):
    """An exponent recovered from floats, rounded to the nearest quarter when that is what it is."""
    if not math.isfinite(k):  # NaN/Inf data give no exponent to round; keep what was found
        return k
    nice = round(k * 4) / 4
    return nice if math.isclose(k, nice, rel_tol=1e-9, abs_tol=1e-9) else k


def _pow_matches(a, data, local, k):
    try:
        value, slope = a**k, k * a ** (k - 1)
    except (ZeroDivisionError, OverflowError, ValueError):
        return False
    return _same(data, value) and _same(local, slope)


def _choose(candidates, hinted):
    if hinted in candidates:
        return hinted
    if candidates:
        return candidates[0]
    return hinted or "?"


def infer_op(data, child_data, local_grads, method=None, exponent=None):
    """(op, exponent) of a node from its data, its children's data and its local gradients.

    Every candidate operation is checked against the numbers; the method the Value was made
    in (`__pow__`, `relu`, ...) only decides between candidates that fit equally well, e.g.
    relu(0) and 0 ** 2 (both 0 with local gradient 0). `exponent` is the one __pow__ was given.
    """
    hinted = HINT_OPS.get(method)
    found = []
    if len(child_data) == 2 and len(local_grads) == 2:
        a, b = child_data
        la, lb = local_grads
        if la == 1 and lb == 1 and _same(data, a + b):
            found.append("+")
        if _same(la, b) and _same(lb, a) and _same(data, a * b):
            found.append("*")
        return _choose(found, hinted), None
    if len(child_data) != 1 or len(local_grads) != 1:
        return hinted or f"?{len(child_data)}", None
    a, g = child_data[0], local_grads[0]
    try:
        if _same(g, data) and _same(data, math.exp(a)):
            found.append("exp")
    except OverflowError:
        pass
    if a > 0 and _same(data, math.log(a)) and _same(g, 1 / a):
        found.append("log")
    if data == max(0, a) and g == float(a > 0):
        found.append("relu")
    if _same(data, math.tanh(a)) and _same(g, 1 - data * data):
        found.append("tanh")
    k = exponent
    if k is None and a != 0 and data != 0:
        k = _snap(g * a / data)  # g = k a^(k-1) and data = a^k give k = g a / data
    if k is not None and _pow_matches(a, data, g, k):
        found.append("**")
    op = _choose(found, hinted)
    return op, (float(k) if op == "**" and k is not None else None)


def _micrograd_children(v, prev, made):
    """The operands of a micrograd node in argument order, repeats included (x * x -> x, x).

    `_prev` is a set, so order and repeats are read from the `_backward` closure, which holds
    `self` and `other`; anything left over follows in creation order.
    """
    prev_ids = {id(c) for c in prev}
    ordered = []
    fn = getattr(v, "_backward", None)
    cells = getattr(fn, "__closure__", None) or ()
    names = getattr(getattr(fn, "__code__", None), "co_freevars", ())
    by_name = dict(zip(names, cells))
    for name in ["self"] + [n for n in names if n != "self"]:
        cell = by_name.get(name)
        if cell is None:
            continue
        try:
            obj = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if obj is not v and id(obj) in prev_ids:
            ordered.append(obj)
    seen = {id(c) for c in ordered}
    rest = [c for c in prev if id(c) not in seen]
    rest.sort(key=lambda c: made.get(id(c), (None, -1))[1])
    return ordered + rest


def _micrograd_op(label):
    """(op, exponent) from a micrograd `_op` label such as '+', '**2', 'ReLU'; (None, None) if unknown."""
    label = str(label or "")
    if label.startswith("**"):
        try:
            return "**", float(label[2:])
        except ValueError:
            return "**", None
    op = LABEL_OPS.get(label.lower())
    return (op, None) if op else ((label, None) if label else (None, None))


def _probe_local_grads(v, children):
    """Local gradients of a micrograd node, measured by running its `_backward` with grad 1."""
    unique = {id(c): c for c in children}
    for c in unique.values():
        c.grad = 0.0
    v.grad = 1.0
    try:
        v._backward()
    except Exception:  # a closure we cannot replay: its local gradients stay unknown
        return tuple(math.nan for _ in children)
    counts = {}
    for c in children:
        counts[id(c)] = counts.get(id(c), 0) + 1
    return tuple(_as_float(c.grad) / counts[id(c)] for c in children)


def _as_float(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def topological_order(root, children_of):
    """Children before parents, in the order of microgpt's recursive DFS (children in stored order)."""
    topo, visited = [], {id(root)}
    stack = [(root, iter(children_of(root)))]
    while stack:
        node, kids = stack[-1]
        for child in kids:
            if id(child) not in visited:
                visited.add(id(child))
                stack.append((child, iter(children_of(child))))
                break
        else:
            stack.pop()
            topo.append(node)
    return topo


def read_graph(loss, made, sites):
    """The graph reachable from `loss` (after backward) as plain lists, node i = topo position i.

    made: id(value) -> (value, creation index, site index, method name, pow exponent), as
    the child (child.py) notes them; sites: site key -> site index.
    """
    if hasattr(loss, "_children") and hasattr(loss, "_local_grads"):
        style = "tuples"
        cache = {}

        def children_of(v):
            kids = cache.get(id(v))
            if kids is None:
                kids = cache[id(v)] = tuple(v._children)
            return kids
    elif hasattr(loss, "_prev"):
        style = "micrograd"
        cache = {}

        def children_of(v):
            kids = cache.get(id(v))
            if kids is None:
                kids = cache[id(v)] = _micrograd_children(v, v._prev, made) if v._prev else ()
            return kids
    else:
        raise Unsupported(
            f"cannot read the graph of {type(loss).__name__}: its instances have neither "
            "_children and _local_grads nor _prev and _backward"
        )
    topo = topological_order(loss, children_of)
    index = {id(v): i for i, v in enumerate(topo)}
    n = len(topo)
    data = [_as_float(v.data) for v in topo]
    grad = [_as_float(v.grad) for v in topo]  # read before probing, which overwrites grads
    ops, exponents, children, local_grads = [None] * n, [None] * n, [()] * n, [()] * n
    created, site_of, made_in = [-1] * n, [-1] * n, [None] * n
    for i, v in enumerate(topo):
        kids = children_of(v)
        children[i] = tuple(index[id(c)] for c in kids)
        info = made.get(id(v))
        method = exponent = None
        if info is not None:
            _, created[i], site_of[i], method, exponent = info
            made_in[i] = method
        if not kids:
            ops[i] = "leaf"
            continue
        if style == "tuples":
            local_grads[i] = tuple(_as_float(g) for g in v._local_grads)
            ops[i], exponents[i] = infer_op(data[i], [data[j] for j in children[i]], local_grads[i], method, exponent)
        else:
            local_grads[i] = _probe_local_grads(v, kids)
            op, k = _micrograd_op(getattr(v, "_op", ""))
            if op is None:
                op, k = infer_op(data[i], [data[j] for j in children[i]], local_grads[i], method, exponent)
            ops[i], exponents[i] = op, k
    return {
        "style": style,
        "value_class": type(loss).__name__,
        "op": ops,
        "exponent": exponents,
        "data": data,
        "grad": grad,
        "children": children,
        "local_grads": local_grads,
        "created": created,
        "made_in": made_in,  # the Value method a node was made in (None: by the user's own code)
        "site": site_of,
        "sites": [key for key, _ in sorted(sites.items(), key=lambda kv: kv[1])],
        "topo": topo,  # dropped before pickling; read_namespaces needs the objects
    }


# --------------------------------------------------------------------------- names from the script


def _user_namespaces(frame):
    """Local namespaces of the user's frames from `frame` outwards; the module's globals come last."""
    spaces = []
    while frame is not None:
        if is_user_file(frame.f_code.co_filename):
            spaces.append(frame.f_locals)
        frame = frame.f_back
    return spaces


def _is_leaf(v):
    kids = getattr(v, "_children", None)
    if kids is None:
        kids = getattr(v, "_prev", ())
    return not kids


def _join(prefix, part):
    return f"{prefix}.{part}" if prefix else str(part)


class ParamFinder:
    """Names parameters after where the script keeps them: state_dict['layer0.attn_wq'][r][c] -> ('layer0.attn_wq', r, c).

    A matrix is a list of rows of leaf Values; a vector a flat list of them (row = index,
    col = -1); a scalar a single leaf Value (row = col = -1). Matrices name a value first,
    then vectors, then scalars, so microgpt's flat `params` list never hides the matrices.
    Containers are searched a few levels deep: dicts, lists and the attributes of the
    user's objects (model.layers[0].neurons[1].w -> 'layers.0.neurons.1.w').
    """

    MAX_DEPTH = 6
    MAX_LIST_WALK = 64  # lists of non-values longer than this are data, not models

    def __init__(self, value_types):
        self.value_types = tuple(value_types)
        self.matrices, self.vectors, self.scalars = {}, {}, {}
        self.seen = set()

    def is_value(self, x):
        return isinstance(x, self.value_types)

    def visit(self, obj, name, depth=0):
        if self.is_value(obj):
            if name and _is_leaf(obj):
                self.scalars.setdefault(id(obj), (name, -1, -1))
            return
        if depth > self.MAX_DEPTH or id(obj) in self.seen:
            return
        if isinstance(obj, dict):
            self.seen.add(id(obj))
            for key, value in list(obj.items()):
                if isinstance(key, (str, int)):
                    self.visit(value, _join(name, key), depth + 1)
        elif isinstance(obj, (list, tuple)):
            self.seen.add(id(obj))
            self._visit_sequence(obj, name, depth)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type) and is_user_file(
            getattr(sys.modules.get(type(obj).__module__), "__file__", None) or ""
        ):
            self.seen.add(id(obj))
            for key, value in list(vars(obj).items()):
                self.visit(value, _join(name, key), depth + 1)

    def _visit_sequence(self, seq, name, depth):
        if not seq:
            return
        if all(isinstance(row, (list, tuple)) and row and all(self.is_value(x) for x in row) for row in seq):
            if all(_is_leaf(x) for row in seq for x in row):
                for r, row in enumerate(seq):
                    for c, x in enumerate(row):
                        self.matrices.setdefault(id(x), (name, r, c))
            return
        if all(self.is_value(x) for x in seq):
            if all(_is_leaf(x) for x in seq):
                for r, x in enumerate(seq):
                    self.vectors.setdefault(id(x), (name, r, -1))
            return
        if len(seq) <= self.MAX_LIST_WALK:
            for i, x in enumerate(seq):
                self.visit(x, _join(name, i), depth + 1)

    def visit_namespace(self, space):
        for key, value in list(space.items()):
            if key.startswith("__") or isinstance(value, SKIPPED_TYPES):
                continue
            # a top-level dict or object is a container: its entries keep their own names
            is_container = isinstance(value, dict) or (hasattr(value, "__dict__") and not isinstance(value, (list, tuple)))
            self.visit(value, "" if is_container else key)

    def location(self, value):
        loc = self.matrices.get(id(value)) or self.vectors.get(id(value)) or self.scalars.get(id(value))
        if loc is None:
            return None
        name, row, col = loc
        prefix = self.common_prefix
        return (name[len(prefix):] if name.startswith(prefix) else name), row, col

    @property
    def common_prefix(self):
        """The path every named parameter shares ('weights.' of model.weights['wte']): it names nothing."""
        if not hasattr(self, "_prefix"):
            names = {loc[0] for loc in (self.matrices or self.vectors or self.scalars).values()}
            parts = [name.split(".") for name in names]
            common = []
            if len(names) > 1:
                for column in zip(*parts):
                    if len(set(column)) != 1:
                        break
                    common.append(column[0])
                if any(len(p) == len(common) for p in parts):  # keep at least one part of every name
                    common = common[:-1]
                while common and any(p[len(common)].isdigit() for p in parts):  # '0.w' names less than 'layers.0.w'
                    common.pop()
            self._prefix = "".join(f"{part}." for part in common)
        return self._prefix


def _lookup(spaces, names, accept):
    for space in spaces:
        for name in names:
            value = space.get(name)
            if value is not None and accept(value):
                return value
    return None


def read_namespaces(topo, frame, value_types):
    """Parameter names and what can be learned of the doc from the variables of the script's frames."""
    spaces = _user_namespaces(frame)
    finder = ParamFinder(value_types)
    for space in spaces:
        finder.visit_namespace(space)
    params = {}
    for i, v in enumerate(topo):
        if _is_leaf(v):
            loc = finder.location(v)
            if loc is not None:
                params[i] = (str(loc[0]), int(loc[1]), int(loc[2]))

    def is_tokens(x):
        return isinstance(x, (list, tuple)) and x and all(isinstance(t, int) and not isinstance(t, bool) for t in x)

    def is_chars(x):
        return isinstance(x, (list, tuple, str)) and x and all(isinstance(c, str) for c in x)

    doc = _lookup(spaces, ("doc",), lambda x: isinstance(x, str) and 0 < len(x) < 10_000)
    tokens = _lookup(spaces, ("tokens", "token_ids"), is_tokens)
    uchars = _lookup(spaces, ("uchars", "chars", "itos"), is_chars)
    bos = _lookup(spaces, ("BOS", "bos", "bos_id", "BOS_ID"), lambda x: isinstance(x, int) and not isinstance(x, bool))
    return {
        "params": params,
        "doc": str(doc) if doc is not None else None,
        "tokens": [int(t) for t in tokens] if tokens is not None else None,
        "uchars": [str(c) for c in uchars] if uchars is not None else None,
        "bos": int(bos) if bos is not None else None,
    }
