"""A recorded step as compact columns, and the networkx graph made from them on demand.

A networkx graph costs about 2 KB per node (a 12-key dict per node, three dicts per edge,
nested in adjacency dicts); a Trace of a 4-layer model holds 1.3 million nodes. The Trace
therefore keeps its nodes and edges as numpy arrays and strings interned in small tables
(40-odd bytes per node and per edge), and every tool reads those. The graph is built from
them only when code asks for it (GraphML export, user code), and is then exactly the graph
the recorder used to build: same node attributes in the same key order, same adjacency
order, same Python types.
"""
from dataclasses import dataclass
from itertools import chain

import numpy as np

NO_EXPONENT = np.nan  # the exponent column of a node that is not a `**` (or whose exponent is unknown)


# Items converted per C-level pass. One pass over a whole step (70,000-1,000,000 nodes) holds the
# GIL from start to end, 30-70 ms at 70,000: a window on another thread waits that long for each
# Python call it makes meanwhile (its timer, its slots), and a paint makes many. Between two
# chunks of this size (1-2 ms each) the interpreter may hand the GIL over.
CHUNK = 8192


def chunked_array(items):
    """np.array(items) for a sequence of strings or numbers, a chunk at a time (CHUNK)."""
    if len(items) <= CHUNK:
        return np.array(items)
    return np.concatenate([np.array(items[start:start + CHUNK]) for start in range(0, len(items), CHUNK)])


def read_column(read, values, dtype):
    """np.fromiter(map(read, values)), a chunk at a time."""
    out = np.empty(len(values), dtype=dtype)
    for start in range(0, len(values), CHUNK):
        part = values[start:start + CHUNK]
        out[start:start + len(part)] = np.fromiter(map(read, part), dtype=dtype, count=len(part))
    return out


def list_column(read, values):
    """list(map(read, values)), a chunk at a time."""
    out = []
    for start in range(0, len(values), CHUNK):
        out.extend(map(read, values[start:start + CHUNK]))
    return out


def flat_column(lists, counts, dtype, read=None):
    """The items of all `lists` in order (read(item) if given) as one array; counts[k] = len(lists[k])."""
    out = np.empty(int(counts.sum()), dtype=dtype)
    ends = np.cumsum(counts)
    for start in range(0, len(lists), CHUNK):
        stop = min(start + CHUNK, len(lists))
        first, last = int(ends[start - 1]) if start else 0, int(ends[stop - 1])
        items = chain.from_iterable(lists[start:stop])
        out[first:last] = np.fromiter(items if read is None else map(read, items), dtype=dtype, count=last - first)
    return out


def frozen(array):
    array.flags.writeable = False
    return array


class Strings:
    """A column of strings held as small int codes into a table of distinct strings."""

    def __init__(self, codes, names):
        self.codes = frozen(np.asarray(codes, dtype=np.int32))
        self.names = tuple(names)

    @classmethod
    def of(cls, values):
        table = {}
        codes = np.fromiter((table.setdefault(v, len(table)) for v in values), dtype=np.int32, count=len(values))
        return cls(codes, table)

    def __len__(self):
        return len(self.codes)

    def __getitem__(self, i):
        return self.names[self.codes[i]]

    def tolist(self):
        names = self.names
        return [names[c] for c in self.codes.tolist()]


@dataclass(frozen=True, eq=False)
class NodeDetails:
    """The per-node attributes a Trace does not keep as its own columns (op, data, grad, scope, pos, kind)."""

    param: Strings  # matrix name of a parameter entry, "" elsewhere
    row: np.ndarray  # its row and column, -1 elsewhere (int32)
    col: np.ndarray
    file: Strings  # source file that made the node, "" when not known
    line: np.ndarray  # and its line, 0 when not known (int32)
    exponent: np.ndarray  # the k of a `** k` node, NaN elsewhere or when not recorded (float64)


@dataclass(frozen=True, eq=False)
class Edges:
    """One row per argument slot of every node: input `src` feeds consumer `dst` in slot `slot`.

    Sorted by consumer, then slot, so the inputs of a node come in argument order.
    """

    src: np.ndarray  # int32
    dst: np.ndarray  # int32
    slot: np.ndarray  # int16
    local_grad: np.ndarray  # float64: d dst / d src recorded on that slot

    def __len__(self):
        return len(self.src)

    @classmethod
    def of(cls, src, dst, slot, local_grad):
        src, dst, slot = (np.asarray(a, dtype=np.int64) for a in (src, dst, slot))
        local_grad = np.asarray(local_grad, dtype=np.float64)
        if len(dst) and not ((np.diff(dst) > 0) | ((np.diff(dst) == 0) & (np.diff(slot) > 0))).all():
            order = np.lexsort((slot, dst))
            src, dst, slot, local_grad = src[order], dst[order], slot[order], local_grad[order]
        return cls(
            frozen(src.astype(np.int32)), frozen(dst.astype(np.int32)), frozen(slot.astype(np.int16)),
            frozen(np.array(local_grad, dtype=np.float64)),
        )

    def with_local_grads(self, local_grad):
        return Edges(self.src, self.dst, self.slot, frozen(np.array(local_grad, dtype=np.float64)))


def node_attributes(trace, i):
    """The attribute dict the graph holds for node i, made from the columns."""
    d = trace.details
    attrs = {
        "op": trace.op[i], "data": float(trace.data[i]), "grad": float(trace.grad[i]), "scope": trace.scope[i],
        "pos": int(trace.pos[i]), "kind": trace.kind[i], "param": d.param[i], "row": int(d.row[i]),
        "col": int(d.col[i]), "file": d.file[i], "line": int(d.line[i]), "order": trace.num_nodes - 1 - int(i),
    }
    exponent = d.exponent[i]
    if attrs["op"] == "**" and exponent == exponent:
        attrs["exponent"] = float(exponent)
    return attrs


def build_graph(trace):
    """The step's frozen networkx MultiDiGraph: an edge input -> consumer per slot, keyed by the slot.

    networkx's dicts are filled directly, in the order add_nodes_from and add_edges_from
    would fill them (consumers in id order, then slots), at a fraction of their cost.
    """
    import networkx as nx  # only here: recording and the tools never need it

    n = trace.num_nodes
    d = trace.details
    columns = zip(
        trace.op, trace.data.tolist(), trace.grad.tolist(), trace.scope, trace.pos.tolist(), trace.kind,
        d.param.tolist(), d.row.tolist(), d.col.tolist(), d.file.tolist(), d.line.tolist(), d.exponent.tolist(),
    )
    node_attrs = {}
    for i, (op, data, grad, scope, pos, kind, param, row, col, file, line, exponent) in enumerate(columns):
        attrs = node_attrs[i] = {
            "op": op, "data": data, "grad": grad, "scope": scope, "pos": pos, "kind": kind,
            "param": param, "row": row, "col": col, "file": file, "line": line, "order": n - 1 - i,
        }
        if op == "**" and exponent == exponent:
            attrs["exponent"] = exponent
    succ = {i: {} for i in range(n)}
    pred = {i: {} for i in range(n)}
    e = trace.edges
    for src, dst, slot, local_grad in zip(e.src.tolist(), e.dst.tolist(), e.slot.tolist(), e.local_grad.tolist()):
        inputs = pred[dst]
        keys = inputs.get(src)
        if keys is None:
            keys = inputs[src] = succ[src][dst] = {}
        keys[slot] = {"local_grad": local_grad}
    graph = nx.MultiDiGraph()
    graph._node = node_attrs
    graph._adj = succ  # also sets graph._succ
    graph._pred = pred
    return nx.freeze(graph)


def columns_of_graph(graph):
    """(NodeDetails, Edges) of a graph built with the recorder's node and edge schema."""
    n = graph.number_of_nodes()
    nodes = [graph._node[i] for i in range(n)]
    details = NodeDetails(
        param=Strings.of([a["param"] for a in nodes]),
        row=frozen(np.array([a["row"] for a in nodes], dtype=np.int32).reshape(n)),
        col=frozen(np.array([a["col"] for a in nodes], dtype=np.int32).reshape(n)),
        file=Strings.of([a["file"] for a in nodes]),
        line=frozen(np.array([a["line"] for a in nodes], dtype=np.int32).reshape(n)),
        exponent=frozen(np.array([_exponent_of(a) for a in nodes], dtype=np.float64).reshape(n)),
    )
    rows = [
        (u, v, key, attrs["local_grad"])
        for v, inputs in graph._pred.items()
        for u, keys in inputs.items()
        for key, attrs in keys.items()
    ]
    src, dst, slot, local_grad = (list(c) for c in zip(*rows)) if rows else ([], [], [], [])
    return details, Edges.of(src, dst, slot, local_grad)


def _exponent_of(attrs):
    exponent = attrs.get("exponent") if attrs["op"] == "**" else None
    return NO_EXPONENT if exponent is None else exponent
