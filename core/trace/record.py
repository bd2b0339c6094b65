"""Recording one training step into a Trace: every Value reachable from the loss, as plain data.

A Trace is a frozen snapshot made of plain numbers, strings and arrays (core/trace/columns.py);
it holds no live Value, so training can go on while the Trace is browsed. Its networkx
MultiDiGraph is built from those columns the first time `trace.graph` is read; the tools
read the columns and never ask for it. Node ids are positions in the step's topological
order (inputs before their consumers), so recording the same doc again numbers its nodes
alike (step diffs rely on it); docs of the same length share the module-level view, not
every scalar id (see README).
"""
import functools
import gc
import sys
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from core.engine import autograd, scope
from core.engine.model import step_loss
from core.trace.columns import (Edges, NodeDetails, Strings, build_graph, columns_of_graph, flat_column, frozen, list_column,
                                node_attributes, read_column)

KINDS = ("param", "const", "input", "intermediate", "loss")


@dataclass(frozen=True, eq=False, init=False)
class Trace:
    """One recorded step: its columns, its attention tables and, on demand, its networkx graph."""

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
    # Columns of the node table, indexed by node id. The strings are shared (one object per
    # distinct op, scope or kind), so a column costs a pointer per node.
    op: tuple
    data: np.ndarray
    grad: np.ndarray
    scope: tuple
    pos: np.ndarray
    kind: tuple
    param_nodes: dict  # matrix name -> node ids of its entries
    details: NodeDetails  # param, row, col, file, line, exponent per node
    edges: Edges  # src, dst, slot, local_grad per argument slot, sorted by consumer then slot

    def __init__(self, *, doc, tokens, token_labels, step, loss, loss_node, position_losses, position_loss_nodes,
                 attention_weights, attention_logits, attention_weight_grads, attention_nodes, config,
                 op, data, grad, scope, pos, kind, param_nodes=None, details=None, edges=None, graph=None):
        """Either the columns `details` and `edges`, or a `graph` of the recorder's schema to take them from."""
        if details is None or edges is None:
            if graph is None:
                raise TypeError("a Trace needs its details and edges columns, or a graph to take them from")
            details, edges = columns_of_graph(graph)
        fields = dict(
            doc=doc, tokens=tokens, token_labels=token_labels, step=step, loss=loss, loss_node=loss_node,
            position_losses=position_losses, position_loss_nodes=position_loss_nodes,
            attention_weights=attention_weights, attention_logits=attention_logits,
            attention_weight_grads=attention_weight_grads, attention_nodes=attention_nodes, config=config,
            op=op, data=data, grad=grad, scope=scope, pos=pos, kind=kind, param_nodes=param_nodes or {},
            details=details, edges=edges,
        )
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        if graph is not None:
            self.__dict__["graph"] = graph  # already built: what `graph` would build again

    @functools.cached_property
    def graph(self):
        """The step as a frozen networkx MultiDiGraph, built on first use (~2 KB per node).

        node id -> op, data, grad, scope, pos, kind, param, row, col, file, line, order (and
        exponent on `**` nodes); an edge input -> consumer per argument slot, keyed by the
        slot, with its local_grad. The tools read the Trace's columns instead.
        """
        return build_graph(self)

    @property
    def built_graph(self):
        """The networkx graph if something has asked for it already, else None (nothing is built)."""
        return self.__dict__.get("graph")

    def node_attributes(self, node):
        """The attributes of one node, as `trace.graph.nodes[node]` has them, without the graph."""
        return node_attributes(self, node)

    @property
    def num_nodes(self):
        return len(self.data)

    @property
    def num_edges(self):
        return len(self.edges)

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
        import networkx as nx

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
        topo_ids = _Identities(topo)
        values = _ReadValues(topo)
        edges = values.edges(topo_ids)
        sites = _Sites(self, topo, topo_ids, values)
        kind = sites.kind
        for v in position_losses + [loss]:
            kind[topo_ids.position(v)] = "loss"
        weights, logits, weight_grads, weight_nodes = _attention_tables(attention, topo_ids, len(position_losses))
        token_labels = tuple(self.trainer.tokenizer.label(t) for t in tokens)
        trace = Trace(
            doc=doc,
            tokens=tuple(tokens),
            token_labels=token_labels,
            step=step,
            loss=float(loss.data),
            loss_node=topo_ids.position(loss),
            position_losses=tuple(float(v.data) for v in position_losses),
            position_loss_nodes=tuple(topo_ids.position(v) for v in position_losses),
            attention_weights=weights,
            attention_logits=logits,
            attention_weight_grads=weight_grads,
            attention_nodes=weight_nodes,
            config=self.trainer.config,
            op=tuple(sites.op),
            data=frozen(values.data),
            grad=frozen(values.grad),
            scope=tuple(sites.scope),
            pos=frozen(sites.pos),
            kind=tuple(kind),
            param_nodes={k: tuple(v) for k, v in sites.param_nodes.items()},
            details=sites.details,
            edges=edges,
        )
        _age_young_objects()
        return trace


class _Identities:
    """Position of a Value in a list of Values, by its id(): sorted ids and searchsorted, no dict.

    Every Value in the list is alive while the list is, so no two share an id.
    """

    def __init__(self, values):
        ids = read_column(id, values, np.int64)
        self.order = np.argsort(ids, kind="stable")
        self.sorted_ids = ids[self.order]
        self.ids = ids

    def positions(self, ids):
        """Position of each id in the list, -1 for ids not in it."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(self.sorted_ids):
            return np.full(len(ids), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.sorted_ids, ids), len(self.sorted_ids) - 1)
        return np.where(self.sorted_ids[at] == ids, self.order[at], -1)

    def position(self, value):
        return int(self.positions([id(value)])[0])


class _ReadValues:
    """What the Values of a step hold: data, grad, op, and their inputs as flat arrays.

    Each column is C-level iteration (map, attrgetter, chain) over the Values, a chunk at a time
    (core.trace.columns.read_column): cheaper than one Python loop that reads everything, even
    though the Values are visited once per column.
    """

    def __init__(self, topo):
        self.data = read_column(_get_data, topo, np.float64)
        self.grad = read_column(_get_grad, topo, np.float64)
        self.ops = list_column(_get_op, topo)
        children = list_column(_get_children, topo)
        self.n_children = read_column(len, children, np.int64)
        # all inputs, consumer by consumer in slot order: the edge table's row order
        self.child_ids = flat_column(children, self.n_children, np.int64, read=id)
        del children
        self.local_grads = flat_column(list_column(_get_local_grads, topo), self.n_children, np.float64)

    def edges(self, topo_ids):
        n = len(self.data)
        dst = np.repeat(np.arange(n, dtype=np.int64), self.n_children)
        first_row = np.cumsum(self.n_children) - self.n_children
        slot = np.arange(len(dst), dtype=np.int64) - np.repeat(first_row, self.n_children)
        return Edges.of(topo_ids.positions(self.child_ids), dst, slot, self.local_grads)


_get_data, _get_grad, _get_op = attrgetter("data"), attrgetter("grad"), attrgetter("op")
_get_children, _get_local_grads = attrgetter("_children"), attrgetter("_local_grads")


class _Sites:
    """op, scope, pos, kind and the NodeDetails of every node, from where its Value was made.

    Values made in the same scope at the same point of the code by the same op share all
    of them; such a group (a "site") is resolved once, the nodes then take its attributes by
    array lookups. Values not made while recording are parameters (each with its own
    matrix, row and column) or inputs.
    """

    def __init__(self, recorder, topo, topo_ids, values):
        n = len(topo)
        made = recorder.made
        # creation index of each node, -1 for Values made before recording
        made_at = topo_ids.positions(read_column(id, made, np.int64))
        creation = np.full(n, -1, dtype=np.int64)
        reached = made_at >= 0
        creation[made_at[reached]] = np.flatnonzero(reached)
        was_made = creation >= 0
        made_nodes = np.flatnonzero(was_made)
        k = creation[made_nodes]
        ops = values.ops
        columns = _site_columns(recorder, ops, k, made_nodes)
        first, site_of = _sites_of(columns)

        self.lines = _LineTable()
        self.positions = {}
        files = {"": 0}
        site_ops, site_scopes, site_kinds = [], [], []
        site_pos, site_file, site_line, site_exponent = [], [], [], []
        for node in made_nodes[first].tolist():
            c = int(creation[node])
            path, code, offset = recorder.scopes[c], recorder.codes[c], recorder.offsets[c]
            op, exponent = _op_and_exponent(ops[node])
            site_ops.append(op)
            site_scopes.append(path)
            site_kinds.append("intermediate" if values.n_children[node] else "const")
            site_pos.append(self._position(path))
            site_file.append(files.setdefault(code.co_filename, len(files)))
            site_line.append(self.lines.line(code, offset))
            site_exponent.append(exponent)

        op = np.empty(n, dtype=object)
        path = np.empty(n, dtype=object)
        kind = np.empty(n, dtype=object)
        pos = np.full(n, -1, dtype=np.int32)
        file = np.zeros(n, dtype=np.int32)
        line = np.zeros(n, dtype=np.int32)
        exponent = np.full(n, np.nan)
        if len(made_nodes):
            op[made_nodes] = np.array(site_ops, dtype=object)[site_of]
            path[made_nodes] = np.array(site_scopes, dtype=object)[site_of]
            kind[made_nodes] = np.array(site_kinds, dtype=object)[site_of]
            pos[made_nodes] = np.array(site_pos, dtype=np.int32)[site_of]
            file[made_nodes] = np.array(site_file, dtype=np.int32)[site_of]
            line[made_nodes] = np.array(site_line, dtype=np.int32)[site_of]
            exponent[made_nodes] = np.array(site_exponent, dtype=np.float64)[site_of]

        params = {"": 0}
        param = np.zeros(n, dtype=np.int32)
        row = np.full(n, -1, dtype=np.int32)
        col = np.full(n, -1, dtype=np.int32)
        self.param_nodes = {}  # matrix name -> node ids of its entries, in id order
        locations = recorder.param_locations
        for node in np.flatnonzero(~was_made).tolist():
            v = topo[node]
            location = locations.get(v)
            if location is not None:
                name, row[node], col[node] = location
                param[node] = params.setdefault(name, len(params))
                op[node], path[node], kind[node] = "param", f"params/{name}", "param"
                self.param_nodes.setdefault(name, []).append(node)
            else:
                op[node], exponent[node] = _op_and_exponent(ops[node])
                path[node], kind[node] = "inputs", "input"
            pos[node] = self._position(path[node])
        self.op, self.scope, self.kind, self.pos = op, path, kind, pos
        self.details = NodeDetails(
            param=Strings(param, params), row=frozen(row), col=frozen(col),
            file=Strings(file, files), line=frozen(line), exponent=frozen(exponent),
        )

    def _position(self, path):
        pos = self.positions.get(path)
        if pos is None:
            pos = self.positions[path] = _position_of(path)
        return pos


def _site_columns(recorder, ops, k, made_nodes):
    """Per made node: ids of its scope string, code object and op string, and its bytecode offset.

    The objects are alive (the recorder and the Values hold them), so equal ids mean the
    same object; sites are told apart without hashing a code object per node.
    """
    def ids_of(items):
        return read_column(id, items, np.int64)

    return (
        ids_of(recorder.scopes)[k], ids_of(recorder.codes)[k],
        np.asarray(recorder.offsets, dtype=np.int64)[k], ids_of(ops)[made_nodes],
    )


def _sites_of(columns):
    """(first node of each site, site of each node) for rows of equal `columns`.

    One sort of a 64-bit mix of the columns; then every row is checked against its site's
    first row, and only if two different rows mixed to the same number (never seen) are the
    columns sorted one by one.
    """
    mixed = np.zeros(len(columns[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column, multiplier in zip(columns, _MIXERS):
            mixed = (mixed ^ column.astype(np.uint64)) * multiplier
            mixed ^= mixed >> np.uint64(29)
    _, first, site_of = np.unique(mixed, return_index=True, return_inverse=True)
    if all(np.array_equal(column, column[first][site_of]) for column in columns):
        return first, site_of
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        distinct, code = np.unique(column, return_inverse=True)
        key = key * len(distinct) + code
    _, first, site_of = np.unique(key, return_index=True, return_inverse=True)
    return first, site_of


_MIXERS = tuple(np.uint64(m) for m in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93))


def _op_and_exponent(op):
    """A `**k` op is recorded as op `**` with the exponent k."""
    if op.startswith("**"):
        return "**", float(op[2:])
    return op, np.nan


def _age_young_objects():
    """Move every object the collector tracks into its oldest generation, without scanning.

    A Trace holds few containers now, but recording made a few hundred thousand while the
    collector was off (the Values, the recorder's lists). Left young, whatever survives
    would be scanned by the next young collection, again by the middle one, and their count
    would trigger a full collection. Aged, they are scanned only by full collections that
    something else triggers. Cyclic garbage among them is still found by the next full
    collection: nothing is leaked. (freeze() moves everything to the permanent generation
    and resets the young count; unfreeze() moves it all back into the oldest generation;
    both are O(1).)

    A program that freezes objects itself (the app: microgpt_viz.session.trace_memory) says
    so with leave_the_collector_to_me(); then nothing here runs, not even the check whether
    anything is frozen (gc.get_freeze_count walks every frozen object: 20-40 ms holding the GIL
    in a long session of the app).
    """
    if _collector_left_to_caller or gc.get_freeze_count():  # never thaw what someone else froze on purpose
        return
    gc.freeze()
    gc.unfreeze()


_collector_left_to_caller = False


def leave_the_collector_to_me():
    """The caller freezes objects itself (gc.freeze): recording no longer ages them (_age_young_objects)."""
    global _collector_left_to_caller
    _collector_left_to_caller = True


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


def _attention_tables(attention, topo_ids, n_pos):
    n_layer, n_head = len(attention), len(attention[0]) if attention else 0
    shape = (n_layer, n_head, n_pos, n_pos)
    weights = np.full(shape, np.nan)
    logits = np.full(shape, np.nan)
    grads = np.full(shape, np.nan)
    nodes = np.full(shape, -1, dtype=np.int64)
    cells, weight_ids = [], []
    for li, heads in enumerate(attention):
        for h, rows in enumerate(heads):
            for q, (row_logits, row_weights) in enumerate(rows):
                for k, (logit, weight) in enumerate(zip(row_logits, row_weights)):
                    weights[li, h, q, k] = weight.data
                    logits[li, h, q, k] = logit.data
                    grads[li, h, q, k] = weight.grad
                    cells.append((li, h, q, k))
                    weight_ids.append(id(weight))
    if cells:
        nodes[tuple(np.array(cells).T)] = topo_ids.positions(weight_ids)
    return tuple(frozen(a) for a in (weights, logits, grads, nodes))
