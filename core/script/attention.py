"""Finding the attention softmaxes in a user's script's graph, from its structure alone.

A script's names are its own, so nothing here reads them. An attention row is a softmax
whose logits are dot products of two computed vectors (q and a cached k), as opposed to
the output softmax, whose logits are dot products with parameters (lm_head):

    logit_k = (q . k_k) * scale            (the scale, a constant, may be absent)
    e_k     = exp(logit_k + c)             (c, the subtracted max, may be absent)
    w_k     = e_k * (e_0 + e_1 + ...)**-1  (e / total; one inverse per weight, or one shared)

Keys are in the order the sum adds them (position 0 first). The query position is the
position a weight belongs to; the layer is how many attention rows lie upstream of the
logits (layer 1 reads layer 0's output), and heads are numbered in the order the script
made them within a layer and position.
"""
from collections import defaultdict

import numpy as np


def _flatten_sum(node, ops, children, is_constant):
    """The non-constant terms of a chain of `+` (Python's sum() adds 0 first), in the order added."""
    terms, stack = [], [node]
    while stack:
        i = stack.pop()
        if ops[i] == "+":
            stack.extend(reversed(children[i]))
        elif not is_constant(i):
            terms.append(i)
    return terms


def _strip_constant_operand(node, op, ops, children, is_constant):
    """The other operand of `node` when it is `op` of one computed value and one constant, else `node`."""
    kids = children[node]
    if ops[node] == op and len(kids) == 2:
        computed = [k for k in kids if not is_constant(k)]
        if len(computed) == 1:
            return computed[0]
    return node


def _is_dot_of_computed_vectors(logit, ops, children, is_constant, is_param):
    """q . k (times a constant): a sum of products whose operands are both computed values."""
    dot = _strip_constant_operand(logit, "*", ops, children, is_constant)
    if ops[dot] != "+":
        return False
    products = _flatten_sum(dot, ops, children, is_constant)
    if not products:
        return False
    for p in products:
        kids = children[p]
        if ops[p] != "*" or len(kids) != 2 or any(is_param(k) or is_constant(k) for k in kids):
            return False
    return True


def _softmax_rows(ops, children, exponents, is_constant, is_param):
    """[(logit ids, weight ids)] of every attention row, found from each sum of exps that is inverted.

    `e / total` makes one `total ** -1` per weight (microgpt) or one shared (a script that
    inverts once): either way a weight is an exp times an inverse of the sum holding that exp.
    """
    consumers = defaultdict(list)
    for i, kids in enumerate(children):
        for k in kids:
            consumers[k].append(i)
    inverses = defaultdict(set)  # the sum -> its `** -1` nodes
    for i, op in enumerate(ops):
        if op == "**" and exponents[i] == -1 and len(children[i]) == 1:
            inverses[children[i][0]].add(i)
    rows = []
    for total in sorted(inverses):
        exps = _flatten_sum(total, ops, children, is_constant)
        if not exps or any(ops[e] != "exp" for e in exps):
            continue
        weights = []
        for e in exps:
            found = [w for w in consumers[e] if ops[w] == "*" and len(children[w]) == 2
                     and (set(children[w]) - {e}) <= inverses[total] and e in children[w]]
            if len(found) != 1:
                break
            weights.append(found[0])
        else:
            logits = [_strip_constant_operand(children[e][0], "+", ops, children, is_constant) for e in exps]
            if all(_is_dot_of_computed_vectors(l, ops, children, is_constant, is_param) for l in logits):
                rows.append((logits, weights))
    return rows


def find_attention(ops, children, exponents, data, grad, pos, n_pos, is_constant, is_param):
    """(weights, logits, weight grads, weight node ids), each [layer, head, query, key] like the recorder's tables.

    Empty (0, 0, 0, 0) arrays when the graph holds no attention row, or rows that do not
    form a regular layers x heads grid over the positions (e.g. attention without a cache).
    """
    empty = (np.empty((0, 0, 0, 0)),) * 3 + (np.empty((0, 0, 0, 0), dtype=np.int64),)
    rows = _softmax_rows(ops, children, exponents, is_constant, is_param)
    if not rows or n_pos == 0:
        return empty
    layer_of_row = _layers(rows, children, len(ops))
    grid = defaultdict(list)  # (layer, query position) -> rows in the order made
    for r, (logits, weights) in enumerate(rows):
        query = int(pos[weights[0]])
        if query < 0 or query >= n_pos or len(weights) != query + 1:
            return empty
        grid[layer_of_row[r], query].append(r)
    n_layer = max(layer for layer, _ in grid) + 1
    heads = {len(rs) for rs in grid.values()}
    if len(heads) != 1 or len(grid) != n_layer * n_pos:
        return empty
    n_head = heads.pop()
    shape = (n_layer, n_head, n_pos, n_pos)
    weights_t, logits_t, grads_t = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    nodes_t = np.full(shape, -1, dtype=np.int64)
    for (layer, query), rs in grid.items():
        for head, r in enumerate(sorted(rs, key=lambda r: rows[r][1][0])):
            logits, weights = rows[r]
            for key, (logit, weight) in enumerate(zip(logits, weights)):
                weights_t[layer, head, query, key] = data[weight]
                logits_t[layer, head, query, key] = data[logit]
                grads_t[layer, head, query, key] = grad[weight]
                nodes_t[layer, head, query, key] = weight
    return weights_t, logits_t, grads_t, nodes_t


def _layers(rows, children, n):
    """The layer of each row: how many attention rows lie on the longest path into its logits."""
    weight_row = {w: r for r, (_, weights) in enumerate(rows) for w in weights}
    first_weight = {r: min(weights) for r, (_, weights) in enumerate(rows)}
    depth = np.zeros(n, dtype=np.int64)  # attention rows upstream of each node, ids being topological
    layer = [0] * len(rows)
    for i in range(n):
        kids = children[i]
        d = max((depth[k] for k in kids), default=0)
        r = weight_row.get(i)
        if r is not None:
            if i == first_weight[r]:
                layer[r] = int(max(depth[l] for l in rows[r][0]))
            d = layer[r] + 1
        depth[i] = d
    return layer
