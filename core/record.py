"""Recording one training step into a Trace: every Value reachable from the loss, as plain data.

A Trace is a frozen snapshot made of plain numbers, strings and arrays plus a networkx
MultiDiGraph; it holds no live Value, so training can go on while the Trace is browsed.
Node ids are positions in the step's topological order (inputs before their consumers), so
two steps on docs of the same length give the same ids to the same places in the graph.
"""
import math
import sys
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from core import engine, scope
from core.train import step_loss

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
    config: object  # the core.config.Config the step ran with
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
        return self.graph.number_of_edges()

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
    """While active, notes the scope and source line of every Value created; then builds a Trace."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.made = {}
        self.param_locations = {}
        for p, loc in zip(trainer.model.params, trainer.model.param_locations()):
            self.param_locations[p] = loc

    def __enter__(self):
        if engine.new_value_hook is not None:
            raise RuntimeError("another recorder is already active")
        made = self.made
        engine_file = engine.Value.__init__.__code__.co_filename
        getframe = sys._getframe
        scope_module = scope

        def on_new_value(value):
            frame = getframe(2)
            while frame.f_code.co_filename == engine_file:
                frame = frame.f_back
            made[value] = (scope_module.current, frame.f_code.co_filename, frame.f_lineno)

        engine.new_value_hook = on_new_value
        return self

    def __exit__(self, *exc):
        engine.new_value_hook = None
        return False

    def run(self, tokens):
        c = self.trainer.config
        attention = [[[] for _ in range(c.n_head)] for _ in range(c.n_layer)]
        loss, position_losses = step_loss(self.trainer.model, tokens, attention)
        return loss, position_losses, attention

    def build(self, doc, tokens, loss, position_losses, attention, topo, step):
        made, param_locations = self.made, self.param_locations
        n = len(topo)
        index = {v: i for i, v in enumerate(topo)}
        loss_ids = {index[v] for v in position_losses}
        loss_ids.add(index[loss])
        model_file = engine_file = None
        positions = {}

        ops, kinds, scopes = [None] * n, [None] * n, [None] * n
        datas, grads, poss = [0.0] * n, [0.0] * n, [0] * n
        node_attrs = {}
        param_nodes = {}
        for i, v in enumerate(topo):
            op = v.op
            exponent = None
            if op.startswith("**"):
                exponent = float(op[2:])
                op = "**"
            info = made.get(v)
            name, row, col = "", -1, -1
            if info is not None:
                path, file, line = info
                kind = "intermediate" if v._children else "const"
            elif v in param_locations:
                name, row, col = param_locations[v]
                path, file, line, kind = f"params/{name}", "", 0, "param"
                op = "param"
                param_nodes.setdefault(name, []).append(i)
            else:
                path, file, line, kind = "inputs", "", 0, "input"
            if i in loss_ids:
                kind = "loss"
            pos = positions.get(path)
            if pos is None:
                pos = positions[path] = _position_of(path)
            data, grad = float(v.data), float(v.grad)
            attrs = {
                "op": op, "data": data, "grad": grad, "scope": path, "pos": pos, "kind": kind,
                "param": name, "row": row, "col": col, "file": file, "line": line, "order": n - 1 - i,
            }
            if exponent is not None:
                attrs["exponent"] = exponent
            node_attrs[i] = attrs
            ops[i], kinds[i], scopes[i], datas[i], grads[i], poss[i] = op, kind, path, data, grad, pos

        graph = _build_graph(topo, index, node_attrs)
        weights, logits, weight_grads, weight_nodes = _attention_tables(attention, index, len(position_losses))
        token_labels = tuple(self.trainer.tokenizer.label(t) for t in tokens)
        return Trace(
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
            data=_frozen(np.array(datas)),
            grad=_frozen(np.array(grads)),
            scope=tuple(scopes),
            pos=_frozen(np.array(poss, dtype=np.int32)),
            kind=tuple(kinds),
            param_nodes={k: tuple(v) for k, v in param_nodes.items()},
        )


def _frozen(array):
    array.flags.writeable = False
    return array


def _build_graph(topo, index, node_attrs):
    """A MultiDiGraph with an edge input -> consumer per child slot, keyed by the slot (0 or 1).

    Filling networkx's adjacency dicts directly gives the same graph as add_edges_from at a
    fraction of the cost (tests/test_record.py checks the two agree).
    """
    graph = nx.MultiDiGraph()
    succ, pred = graph._succ, graph._pred
    graph._node.update(node_attrs)
    for i in range(len(topo)):
        succ[i] = {}
        pred[i] = {}
    # Values have one or two children; unrolled, since this loop runs once per edge.
    for i, v in enumerate(topo):
        children = v._children
        if not children:
            continue
        grads = v._local_grads
        j0 = index[children[0]]
        first = {0: {"local_grad": float(grads[0])}}
        if len(children) == 1:
            pred[i][j0] = succ[j0][i] = first
            continue
        if len(children) > 2:
            _add_edges_generic(pred[i], succ, i, children[1:], grads[1:], index, first, j0)
            continue
        j1 = index[children[1]]
        if j1 == j0:  # x * x: both slots feed the same child
            first[1] = {"local_grad": float(grads[1])}
            pred[i][j0] = succ[j0][i] = first
        else:
            preds_i = pred[i]
            preds_i[j0] = succ[j0][i] = first
            preds_i[j1] = succ[j1][i] = {1: {"local_grad": float(grads[1])}}
    return graph


def _add_edges_generic(preds_i, succ, i, children, grads, index, first, j0):
    preds_i[j0] = succ[j0][i] = first
    for slot, (child, local_grad) in enumerate(zip(children, grads), start=1):
        j = index[child]
        keydict = preds_i.get(j)
        if keydict is None:
            keydict = preds_i[j] = succ[j][i] = {}
        keydict[slot] = {"local_grad": float(local_grad)}


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
