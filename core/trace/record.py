"""Recording one training step into a Trace: every Value reachable from the loss, as plain data.

A Trace is a frozen snapshot made of plain numbers, strings and arrays plus a networkx
MultiDiGraph; it holds no live Value, so training can go on while the Trace is browsed.
Node ids are positions in the step's topological order (inputs before their consumers), so
recording the same doc again numbers its nodes alike (step diffs rely on it); docs of the
same length share the module-level view, not every scalar id (see README).
"""
import gc
import sys
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from core.engine import autograd, scope
from core.engine.model import step_loss

KINDS = ("param", "const", "input", "intermediate", "loss")


@dataclass(frozen=True, eq=False)
class Trace:
    graph: nx.MultiDiGraph  # node id -> op, data, grad, scope, pos, kind, param, row, col, file, line, order
    doc: str  # the document the step trained on
    tokens: tuple  # token ids, [BOS] + chars + [BOS]
    token_labels: tuple  # "BOS", "e", "m", ...
    step: int  # 0-based step index (the update this graph feeds)
    loss: float
    loss_node: int
    position_losses: tuple  # loss_t per position
    position_loss_nodes: tuple  # node id of each loss_t
    attention_weights: np.ndarray  # [layer, head, query, key], NaN above the causal diagonal
    attention_logits: np.ndarray  # same shape: the scaled dot products fed to the softmax
    attention_weight_grads: np.ndarray  # same shape: d loss / d weight
    attention_nodes: np.ndarray  # same shape: node id of each softmax output, -1 where masked
    config: object  # the core.engine.config.Config the step ran with
    # Columns of the node table, indexed by node id, for fast search without touching networkx.
    op: tuple
    data: np.ndarray
    grad: np.ndarray
    scope: tuple
    pos: np.ndarray
    kind: tuple
    param_nodes: dict = field(default_factory=dict)  # matrix name -> node ids of its entries in the graph

    @property
    def num_nodes(self):
        return self.graph.number_of_nodes()

    @property
    def num_edges(self):
        # Not graph.number_of_edges(): it caches a degree view on the graph that points back at
        # it, and that cycle would keep a released Trace's graph alive until a full collection.
        return sum(len(keys) for targets in self.graph.succ.values() for keys in targets.values())

    @property
    def positions(self):
        return len(self.position_losses)

    def summary(self):
        return {
            "doc": self.doc,
            "step": self.step,
            "positions": self.positions,
            "nodes": self.num_nodes,
            "edges": self.num_edges,
            "loss": self.loss,
            "position_losses": list(self.position_losses),
            "attention_layers": int(self.attention_weights.shape[0]),
            "attention_heads": int(self.attention_weights.shape[1]),
        }

    def write_graphml(self, path):
        """GraphML for Gephi, Cytoscape, yEd or networkx.read_graphml."""
        nx.write_graphml(self.graph, path)


def _position_of(path):
    if path.startswith("pos"):
        head = path.split("/", 1)[0]
        if head[3:].isdigit():
            return int(head[3:])
    return -1


class Recorder:
    """While active, notes the scope and source position of every Value created; then builds a Trace."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.made = []  # Values in creation order
        # where each was made, same order: scope, code object, bytecode offset
        self.scopes, self.codes, self.offsets = [], [], []
        self.param_locations = dict(zip(trainer.model.params, trainer.model.param_locations()))

    def __enter__(self):
        if autograd.new_value_hook is not None:
            raise RuntimeError("another recorder is already active")
        note_value, note_scope = self.made.append, self.scopes.append
        note_code, note_offset = self.codes.append, self.offsets.append
        engine_file = autograd.Value.__init__.__code__.co_filename
        getframe = sys._getframe
        scope_module = scope

        # Runs once per Value, so it does the least it can: appends, no dict, no tuple (a
        # tuple per Value would scatter the Values in memory and slow the backward pass),
        # and the bytecode offset rather than the line (looked up once per offset in build).
        def on_new_value(value):
            frame = getframe(2)
            code = frame.f_code
            while code.co_filename == engine_file:  # made by an engine method: its caller
                frame = frame.f_back
                code = frame.f_code
            note_value(value)
            note_scope(scope_module.current)
            note_code(code)
            note_offset(frame.f_lasti)

        autograd.new_value_hook = on_new_value
        return self

    def __exit__(self, *exc):
        autograd.new_value_hook = None
        return False

    def run(self, tokens):
        c = self.trainer.config
        attention = [[[] for _ in range(c.n_head)] for _ in range(c.n_layer)]
        loss, position_losses = step_loss(self.trainer.model, tokens, attention)
        return loss, position_losses, attention

    def build(self, doc, tokens, loss, position_losses, attention, topo, step):
        n = len(topo)
        index = dict(zip(topo, range(n)))
        nodes = _Nodes(dict(zip(self.made, zip(self.scopes, self.codes, self.offsets))), self.param_locations)
        node_attrs, pred, succ, columns = _fill_graph(topo, index, nodes)
        ops, scopes, poss, kinds = (list(column) for column in zip(*columns))
        for v in position_losses + [loss]:
            i = index[v]
            node_attrs[i]["kind"] = kinds[i] = "loss"
        graph = nx.MultiDiGraph()
        graph._node = node_attrs
        graph._adj = succ  # also sets graph._succ
        graph._pred = pred
        weights, logits, weight_grads, weight_nodes = _attention_tables(attention, index, len(position_losses))
        token_labels = tuple(self.trainer.tokenizer.label(t) for t in tokens)
        trace = Trace(
            graph=nx.freeze(graph),
            doc=doc,
            tokens=tuple(tokens),
            token_labels=token_labels,
            step=step,
            loss=float(loss.data),
            loss_node=index[loss],
            position_losses=tuple(float(v.data) for v in position_losses),
            position_loss_nodes=tuple(index[v] for v in position_losses),
            attention_weights=weights,
            attention_logits=logits,
            attention_weight_grads=weight_grads,
            attention_nodes=weight_nodes,
            config=self.trainer.config,
            op=tuple(ops),
            data=_frozen(np.array([v.data for v in topo], dtype=np.float64)),
            grad=_frozen(np.array([v.grad for v in topo], dtype=np.float64)),
            scope=tuple(scopes),
            pos=_frozen(np.array(poss, dtype=np.int32)),
            kind=tuple(kinds),
            param_nodes={k: tuple(v) for k, v in nodes.param_nodes.items()},
        )
        _age_young_objects()
        return trace


def _fill_graph(topo, index, nodes):
    """networkx's node and adjacency dicts for the step, and the per-node columns.

    Returns (node attrs, pred, succ, columns), columns holding (op, scope, pos, kind) per
    node. Filling networkx's dicts directly gives the same graph as add_nodes_from and
    add_edges_from (an edge input -> consumer per child slot, keyed by the slot) at a
    fraction of the cost; tests/core/trace/test_record.py checks the two agree. One pass over the
    Values, since each visit of a scattered Value costs cache misses; unrolled for one and
    two children, the only arities microgpt makes.
    """
    n = len(topo)
    node_attrs = {}
    succ = {i: {} for i in range(n)}
    pred = {}
    columns = []
    add_columns = columns.append
    made_at, shared, new_template = nodes.where.get, nodes.shared.get, nodes.new_template
    for i, v in enumerate(topo):
        children = v._children
        local_grads = v._local_grads
        n_children = len(children)
        key = (v.op, made_at(v))
        template, column = shared(key) or new_template(v, i, key, n_children)
        # Copying a shared template and setting the per-node numbers is several times
        # cheaper than building each 12-key dict key by key. `x * 1.0` is float(x),
        # exactly (ints convert, -0.0 stays -0.0), without the cost of a call.
        node_attrs[i] = dict(template, data=v.data * 1.0, grad=v.grad * 1.0, order=n - 1 - i)
        add_columns(column)
        if n_children == 2:
            j0, j1 = index[children[0]], index[children[1]]
            first = {0: {"local_grad": local_grads[0] * 1.0}}
            if j0 == j1:  # x * x: both slots feed the same child
                first[1] = {"local_grad": local_grads[1] * 1.0}
                pred[i] = {j0: first}
                succ[j0][i] = first
            else:
                second = {1: {"local_grad": local_grads[1] * 1.0}}
                pred[i] = {j0: first, j1: second}
                succ[j0][i] = first
                succ[j1][i] = second
        elif n_children == 1:
            j0 = index[children[0]]
            first = {0: {"local_grad": local_grads[0] * 1.0}}
            pred[i] = {j0: first}
            succ[j0][i] = first
        elif n_children == 0:
            pred[i] = {}
        else:
            pred[i] = _edges_of_many_children(i, children, local_grads, index, succ)
    return node_attrs, pred, succ, columns


def _edges_of_many_children(i, children, local_grads, index, succ):
    preds_i = {}
    for slot, (child, local_grad) in enumerate(zip(children, local_grads)):
        j = index[child]
        keydict = preds_i.get(j)
        if keydict is None:
            keydict = preds_i[j] = succ[j][i] = {}
        keydict[slot] = {"local_grad": float(local_grad)}
    return preds_i


def _age_young_objects():
    """Move every object the collector tracks into its oldest generation, without scanning.

    A Trace is a few hundred thousand dicts made while the collector was off. Left young,
    they would be scanned by the next young collection, again by the middle one, and
    their count would trigger a full collection: 0.1-0.3 s after every recorded step.
    Aged, they are scanned only by full collections that something else triggers. Cyclic
    garbage among them is still found by the next full collection: nothing is leaked.
    (freeze() moves everything to the permanent generation and resets the young count;
    unfreeze() moves it all back into the oldest generation; both are O(1).)
    """
    if gc.get_freeze_count() == 0:  # never thaw what someone else froze on purpose
        gc.freeze()
        gc.unfreeze()


class _Nodes:
    """Shared attribute templates for nodes: all but data, grad and order (still zero).

    Values made in the same scope at the same point of the code by the same op share one
    template; each parameter has its own (it carries its row and column).
    """

    def __init__(self, where, param_locations):
        self.where = where  # Value -> (scope, code object, offset) for Values made while recording
        self.param_locations = param_locations  # parameter Value -> (matrix, row, col)
        self.param_nodes = {}  # matrix name -> node ids of its entries, in id order
        self.shared = {}  # (op, where) -> (template, its (op, scope, pos, kind) for the Trace's columns)
        self.positions = {}
        self.lines = _LineTable()

    def new_template(self, v, i, key, n_children):
        """(template, column) for a node whose key has no shared template yet."""
        op, made_at = key
        name, row, col = "", -1, -1
        if made_at is not None:
            path, code, offset = made_at
            file, line = code.co_filename, self.lines.line(code, offset)
            kind = "intermediate" if n_children else "const"
        elif v in self.param_locations:
            name, row, col = self.param_locations[v]
            path, file, line, kind, op = f"params/{name}", "", 0, "param", "param"
            self.param_nodes.setdefault(name, []).append(i)
        else:
            path, file, line, kind = "inputs", "", 0, "input"
        pos = self.positions.get(path)
        if pos is None:
            pos = self.positions[path] = _position_of(path)
        template = {
            "op": op, "data": 0.0, "grad": 0.0, "scope": path, "pos": pos, "kind": kind,
            "param": name, "row": row, "col": col, "file": file, "line": line, "order": 0,
        }
        if op.startswith("**"):
            template["op"] = "**"
            template["exponent"] = float(op[2:])
        made = (template, (template["op"], path, pos, kind))
        if kind != "param":
            self.shared[key] = made
        return made


class _LineTable:
    """Source line of a bytecode offset, as frame.f_lineno would give it, cached per code object."""

    def __init__(self):
        self.ranges = {}

    def line(self, code, offset):
        ranges = self.ranges.get(code)
        if ranges is None:
            ranges = self.ranges[code] = list(code.co_lines())
        for start, end, line in ranges:
            if start <= offset < end:
                return line if line is not None else 0
        return 0


def _frozen(array):
    array.flags.writeable = False
    return array


def _attention_tables(attention, index, n_pos):
    n_layer, n_head = len(attention), len(attention[0]) if attention else 0
    shape = (n_layer, n_head, n_pos, n_pos)
    weights = np.full(shape, np.nan)
    logits = np.full(shape, np.nan)
    grads = np.full(shape, np.nan)
    nodes = np.full(shape, -1, dtype=np.int64)
    for li, heads in enumerate(attention):
        for h, rows in enumerate(heads):
            for q, (row_logits, row_weights) in enumerate(rows):
                for k, (logit, weight) in enumerate(zip(row_logits, row_weights)):
                    weights[li, h, q, k] = weight.data
                    logits[li, h, q, k] = logit.data
                    grads[li, h, q, k] = weight.grad
                    nodes[li, h, q, k] = index[weight]
    return tuple(_frozen(a) for a in (weights, logits, grads, nodes))
