"""A core.trace.record.Trace from the graph the child (child.py) captured in a user's script.

Same node and edge schema as the built-in recorder's, inferring what a foreign script does
not say:
- positions: the spec's loss is (1/n) * sum(per-position losses); a value belongs to the
  first position whose loss it feeds (for microgpt: the position that made it, since a
  position only reads the keys and values of earlier ones);
- kinds: leaves the script keeps in its variables are parameters, named after them
  (state_dict['wte'][r][c]); so are the other leaves its own code made before the step's
  first computed value; leaves made later, or by a Value operator (the 2 of x * 2), are constants;
- scopes: the user's function names at the moment each value was made (`pos3/gpt/linear`),
  with the file and line of the user's code that made it;
- tokens: the script's `tokens`, else its `doc` tokenized as microgpt does;
- attention: the tables the recorder keeps, from the softmaxes core/script/attention.py finds
  by their structure (empty arrays when there are none). No config (None);
- step: the number of backward() calls before the recorded one.
"""
from pathlib import Path

import networkx as nx
import numpy as np

from core.script.attention import find_attention
from core.trace.record import Trace


def _is_constant(ops, children, i):
    """A leaf, or a power of a leaf (the `n ** -1` of `x / n`)."""
    kids = children[i]
    return not kids or (ops[i] == "**" and not children[kids[0]])


def find_position_losses(ops, children, data, created, loss):
    """Node ids of the per-position losses the step's loss averages, or () if its shape is not the spec's.

    The spec's loss is (1/n) * sum(losses): a '*' of a constant and a chain of '+' that
    sum() starts with l0 + 0 (l0.__radd__(0)). The terms must have been made in order.
    """

    def is_zero_leaf(i):
        return not children[i] and data[i] == 0

    total = loss
    if ops[loss] == "*" and len(children[loss]) == 2:
        a, b = children[loss]
        if _is_constant(ops, children, a) != _is_constant(ops, children, b):
            total = b if _is_constant(ops, children, a) else a
    if ops[total] != "+":
        return ()
    terms, node = [], total
    while ops[node] == "+" and len(children[node]) == 2:
        left, right = children[node]
        if is_zero_leaf(right) or is_zero_leaf(left):
            terms.append(left if is_zero_leaf(right) else right)
            break
        terms.append(right)
        node = left
    else:
        terms.append(node)
    terms.reverse()
    made = [created[t] for t in terms]
    if any(not children[t] for t in terms) or min(made) < 0 or any(a >= b for a, b in zip(made, made[1:])):
        return ()
    return tuple(terms)


def _first_positions(children, position_loss_nodes):
    """For every node, the first position whose loss it feeds; -1 for none (the mean over positions)."""
    n = len(children)
    none = len(position_loss_nodes)
    first = [none] * n
    for t, node in enumerate(position_loss_nodes):
        first[node] = min(first[node], t)
    for i in range(n - 1, -1, -1):  # consumers have larger ids than their inputs
        t = first[i]
        if t < none:
            for j in children[i]:
                if t < first[j]:
                    first[j] = t
    return [t if t < none else -1 for t in first]


def _labeller(uchars, bos):
    def label(token):
        if token == bos:
            return "BOS"
        if uchars is not None and 0 <= token < len(uchars):
            return uchars[token]
        return str(token)

    return label


def _frozen(array):
    array.flags.writeable = False
    return array


def _build_graph(node_attrs, children, local_grads):
    """A MultiDiGraph with an edge input -> consumer per argument slot (the key), with its local_grad.

    networkx's adjacency dicts are filled directly: add_edges_from costs three times as much
    for the same graph (tests/core/script/test_script.py checks the two agree).
    """
    graph = nx.MultiDiGraph()
    graph._node.update(node_attrs)
    succ, pred = graph._succ, graph._pred
    for i in node_attrs:
        succ[i], pred[i] = {}, {}
    nan = float("nan")
    for i, kids in enumerate(children):
        grads = local_grads[i]
        preds = pred[i]
        for slot, j in enumerate(kids):
            keys = preds.get(j)
            if keys is None:
                keys = preds[j] = succ[j][i] = {}
            keys[slot] = {"local_grad": float(grads[slot]) if slot < len(grads) else nan}
    return graph


def trace_from_capture(capture, script=""):
    """A core.trace.record.Trace from what the child (child.py) captured (same node and edge schema as the recorder's)."""
    ops_in, children, created = capture["op"], capture["children"], capture["created"]
    data, grad, sites, site_of = capture["data"], capture["grad"], capture["sites"], capture["site"]
    params = capture.get("params", {})
    made_in = capture.get("made_in") or [None] * len(ops_in)
    n = len(ops_in)
    loss_node = n - 1
    position_loss_nodes = find_position_losses(ops_in, children, data, created, loss_node)
    first_position = _first_positions(children, position_loss_nodes)
    loss_ids = set(position_loss_nodes) | {loss_node}
    # The step starts with its first computed value; leaves made before it are parameters.
    step_start = min((created[i] for i in range(n) if children[i] and created[i] >= 0), default=0)

    scope_of_site = {}
    ops, kinds, scopes, poss = [None] * n, [None] * n, [None] * n, [0] * n
    node_attrs, param_nodes = {}, {}
    for i in range(n):
        site = site_of[i]
        if site >= 0:
            names, file, line = sites[site]
            path = scope_of_site.get(site)
            if path is None:
                path = scope_of_site[site] = "/".join(names) or Path(file or script).stem
        else:
            path, file, line = "inputs", "", 0
        file = file or ""
        op, name, row, col, pos = ops_in[i], "", -1, -1, -1
        if children[i]:
            kind = "intermediate"
        elif i in params:
            kind, op = "param", "param"
            name, row, col = params[i]
            path = f"params/{name}"
        elif created[i] < 0:
            kind, op = "input", "const"
        elif created[i] < step_start and made_in[i] is None:
            kind, op, path = "param", "param", "params"
        else:
            kind, op = "const", "const"
        if kind not in ("param", "input") and first_position[i] >= 0:
            pos = first_position[i]
            path = f"pos{pos}/{path}"
        if i in loss_ids:
            kind = "loss"
        if kind == "param":
            param_nodes.setdefault(name, []).append(i)
        attrs = {
            "op": op, "data": data[i], "grad": grad[i], "scope": path, "pos": pos, "kind": kind,
            "param": name, "row": row, "col": col, "file": file, "line": line, "order": n - 1 - i,
        }
        exponent = capture["exponent"][i]
        if op == "**" and exponent is not None:
            attrs["exponent"] = float(exponent)
        node_attrs[i] = attrs
        ops[i], kinds[i], scopes[i], poss[i] = op, kind, path, pos

    graph = _build_graph(node_attrs, children, capture["local_grads"])

    uchars, bos, doc = capture.get("uchars"), capture.get("bos"), capture.get("doc")
    if bos is None and uchars is not None:
        bos = len(uchars)
    tokens = tuple(capture.get("tokens") or ())
    if not tokens and doc and uchars is not None and set(doc) <= set(uchars):
        tokens = (bos, *(uchars.index(ch) for ch in doc), bos)  # microgpt's tokenization
    if position_loss_nodes and len(tokens) < len(position_loss_nodes) + 1:
        tokens = ()  # not this step's tokens: a variable of the same name holding something else
    label = _labeller(uchars, bos)
    token_labels = tuple(label(t) for t in tokens)
    if doc is None:
        doc = "".join(lb for t, lb in zip(tokens, token_labels) if t != bos) if uchars is not None else ""
    attention = find_attention(
        ops_in, children, capture["exponent"], data, grad, poss, len(position_loss_nodes),
        is_constant=lambda i: _is_constant(ops_in, children, i), is_param=lambda i: kinds[i] == "param",
    )
    weights, logits, weight_grads, weight_nodes = attention
    return Trace(
        graph=nx.freeze(graph),
        doc=doc,
        tokens=tokens,
        token_labels=token_labels,
        step=capture.get("backward_calls", 1) - 1,
        loss=float(data[loss_node]),
        loss_node=loss_node,
        position_losses=tuple(float(data[i]) for i in position_loss_nodes),
        position_loss_nodes=tuple(position_loss_nodes),
        attention_weights=_frozen(weights),
        attention_logits=_frozen(logits),
        attention_weight_grads=_frozen(weight_grads),
        attention_nodes=_frozen(weight_nodes),
        config=None,
        op=tuple(ops),
        data=_frozen(np.array(data, dtype=float)),
        grad=_frozen(np.array(grad, dtype=float)),
        scope=tuple(scopes),
        pos=_frozen(np.array(poss, dtype=np.int32)),
        kind=tuple(kinds),
        param_nodes={k: tuple(v) for k, v in param_nodes.items()},
    )
