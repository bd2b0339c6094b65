"""Anomaly report for one recorded step: what in this graph deserves a second look.

Checks NaN / Inf (and where they start), dead ReLUs (and the fc1 units dead at every
position), saturated softmaxes, the largest |grad| per scope, vanishing or exploding
gradients per layer (parameter matrix) against the step's median, and the tokens with the highest loss.
Every finding names node ids, most telling first, so a row in the app can jump to the node.

Works on any Trace, including a step recorded from a user's own script (no config, maybe no
tokens, attention tables only where core/script/attention.py finds the softmaxes, scopes and
matrix names of the script's choosing, ops the tape cannot replay): only the graph's wiring
and recorded numbers are read, and what a Trace does not know (attention rows, token
letters) is left out rather than guessed.
"""
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from core.engine.model import matrix_names
from core.trace.wiring import wiring_of

SEVERITIES = ("error", "warning", "info")
UNNAMED = "(unnamed parameters)"  # a script's parameters that no variable of its names


@dataclass(frozen=True)
class AnomalySettings:
    saturation: float = 0.99  # a softmax whose largest weight exceeds this is saturated
    vanishing: float = 1e-3  # a matrix whose gradient RMS is below this times the median matrix's
    exploding: float = 1e3  # ... or above this times the median
    top_tokens: int = 3  # how many highest-loss tokens to list


@dataclass(frozen=True)
class Finding:
    kind: str  # nonfinite_data, nonfinite_grad, dead_unit, dead_relus, saturated_softmax, vanishing_grad, exploding_grad, layer_grad, largest_grad, high_loss_token
    severity: str  # error, warning or info
    message: str  # one line for a person
    nodes: tuple  # node ids, the one to jump to first
    scope: str  # where it is, e.g. 'layer0/mlp' or 'pos3/layer0/attn/head2/softmax'
    value: float  # the number the finding is about (a weight, a ratio, a loss, a count)


@dataclass(frozen=True)
class AnomalyReport:
    findings: tuple  # Finding, errors first, then warnings, then info
    doc: str  # the step's document
    step: int  # the step's index

    def of_kind(self, kind):
        return [f for f in self.findings if f.kind == kind]

    def of_severity(self, severity):
        return [f for f in self.findings if f.severity == severity]

    @property
    def has_errors(self):
        return any(f.severity == "error" for f in self.findings)


def module_scope(path):
    """The scope without its position: 'pos3/layer0/attn/head2/softmax' -> 'layer0/attn/head2/softmax'."""
    head, _, rest = path.partition("/")
    if head.startswith("pos") and head[3:].isdigit():
        return rest or head
    return path


def check(trace, settings=None):
    """The AnomalyReport of a Trace."""
    settings = settings or AnomalySettings()
    finder = _Finder(trace, settings)
    findings = (
        finder.nonfinite()
        + finder.dead_relus()
        + finder.saturated_softmaxes()
        + finder.layer_gradients()
        + finder.largest_grads()
        + finder.high_loss_tokens()
    )
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: rank[f.severity])  # stable: each check's own order survives
    return AnomalyReport(tuple(findings), trace.doc, trace.step)


class _Finder:
    def __init__(self, trace, settings):
        self.trace = trace
        self.settings = settings
        self.wiring = wiring_of(trace)
        self.modules = _module_scopes(trace.scope)

    def describe(self, node):
        return f"#{node} ({self.trace.scope[node]}, {self.trace.op[node]})"

    def nonfinite(self):
        findings = []
        data, grad = self.trace.data, self.trace.grad
        bad_data = np.flatnonzero(~np.isfinite(data))
        if len(bad_data):
            origin = int(bad_data[0])  # ids are topological: the first one is where it starts
            findings.append(Finding(
                "nonfinite_data", "error",
                f"{len(bad_data)} nodes hold NaN/Inf data; it starts at {self.describe(origin)} = {data[origin]}",
                tuple(int(n) for n in bad_data), self.trace.scope[origin], float(len(bad_data)),
            ))
        bad_grad = np.flatnonzero(~np.isfinite(grad))[::-1]  # backward visits the highest ids first
        if len(bad_grad):
            origin = int(bad_grad[0])
            findings.append(Finding(
                "nonfinite_grad", "error",
                f"{len(bad_grad)} nodes hold NaN/Inf gradients; backward first meets one at {self.describe(origin)} = {grad[origin]}",
                tuple(int(n) for n in bad_grad), self.trace.scope[origin], float(len(bad_grad)),
            ))
        return findings

    def dead_relus(self):
        """Per layer: how many relu inputs are <= 0; per unit (row of the matrix feeding the relu): dead at every position."""
        trace, wiring = self.trace, self.wiring
        by_layer = defaultdict(list)  # layer -> [(relu node, (matrix, unit) or None, dead)]
        for node, op in enumerate(trace.op):
            if op != "relu":
                continue
            x = wiring.child0[node]
            unit = _linear_row(trace, wiring, x)  # microgpt: the row of layerN.mlp_fc1
            by_layer[_layer_of(trace.scope[node], unit)].append((node, unit, not trace.data[x] > 0))
        findings = []
        for layer, relus in by_layer.items():
            dead_nodes = tuple(n for n, _, dead in relus if dead)
            units = defaultdict(list)
            for node, unit, dead in relus:
                if unit is not None:
                    units[unit].append((trace.pos[node], node, dead))
            dead_units = sorted(u for u, seen in units.items() if all(dead for _, _, dead in seen))
            where = _relu_scope(trace.scope[relus[0][0]])
            for matrix, row in dead_units:
                nodes = tuple(node for _, node, _ in sorted(units[(matrix, row)]))
                findings.append(Finding(
                    "dead_unit", "warning",
                    f"{matrix} unit {row} is dead at every position ({len(nodes)} of {len(nodes)}): no gradient reaches its row of {matrix}",
                    nodes, where, float(row),
                ))
            share = len(dead_nodes) / len(relus)
            spread = f"{len(units)} units x {trace.positions} positions" if units and trace.positions else f"{len(relus)} relus"
            findings.append(Finding(
                "dead_relus", "info",
                f"{layer}: {len(dead_nodes)} of {len(relus)} relus inactive ({share:.0%}) over {spread}; {len(dead_units)} units dead at every position",
                dead_nodes, where, share,
            ))
        return findings

    def saturated_softmaxes(self):
        trace, limit = self.trace, self.settings.saturation
        labels = trace.token_labels
        findings = []
        weights, nodes = trace.attention_weights, trace.attention_nodes
        n_layer, n_head, n_query, _ = weights.shape
        for layer in range(n_layer):
            for head in range(n_head):
                for query in range(1, n_query):  # query 0 sees one key: a weight of 1 is no news
                    row = weights[layer, head, query, : query + 1]
                    if not np.all(np.isfinite(row)):
                        continue
                    key = int(np.argmax(row))
                    if row[key] > limit:
                        row_nodes = nodes[layer, head, query, : query + 1]
                        first = int(row_nodes[key])
                        findings.append(Finding(
                            "saturated_softmax", "warning",
                            f"layer{layer} head{head}: query {query} ({labels[query]!r}) puts {row[key]:.4f} on key {key} ({labels[key]!r})",
                            (first,) + tuple(int(n) for n in row_nodes if n != first),
                            trace.scope[first], float(row[key]),
                        ))
        findings += self._saturated_outputs()
        return findings

    def _saturated_outputs(self):
        """The next-token softmax: only the target's probability is in the graph, so use the exps."""
        trace, wiring, limit = self.trace, self.wiring, self.settings.saturation
        exps = defaultdict(list)
        for node, op in enumerate(trace.op):
            if op == "exp" and self.modules[node] == "softmax" and trace.pos[node] >= 0:
                exps[int(trace.pos[node])].append(node)
        findings = []
        for pos, nodes in sorted(exps.items()):
            values = trace.data[nodes]
            if not np.all(np.isfinite(values)) or not values.sum() > 0:
                continue
            probs = values / values.sum()
            top = int(np.argmax(probs))
            if probs[top] > limit:
                node = nodes[top]
                logit = wiring.child0[wiring.child0[node]]  # exp(logit + (-max))
                row = _linear_row(trace, wiring, logit)  # (lm_head, token) in microgpt
                label = self._token_label(row[1] if row else -1)
                target = f" (target {trace.token_labels[pos + 1]!r})" if pos + 1 < len(trace.token_labels) else ""
                findings.append(Finding(
                    "saturated_softmax", "warning",
                    f"pos{pos} next-token softmax puts {probs[top]:.4f} on {label!r}{target}",
                    (node,) + tuple(n for n in nodes if n != node), f"pos{pos}/softmax", float(probs[top]),
                ))
        return findings

    def _token_label(self, token):
        if token < 0:
            return "?"
        for t, label in zip(self.trace.tokens, self.trace.token_labels):
            if t == token:
                return label
        return f"token {token}"

    def layer_gradients(self):
        """Gradient RMS of each parameter matrix against the median over the matrices that get any.

        Matrices are the layers in the usual sense (embeddings and linear maps, per block), so
        for a deeper model the rows show gradient flow through depth. Matrices with no
        gradient at all are left out of the median (at step 0 of the original preset four
        of them are exactly zero) and reported as vanishing.
        """
        grad = self.trace.grad
        rows = []
        present = self.trace.param_nodes
        for name in _matrix_order(self.trace):
            nodes = present[name]
            values = grad[list(nodes)]
            values = values[np.isfinite(values)]
            if len(values):
                rows.append((name, float(np.sqrt(np.mean(values * values))), nodes))
        live = [rms for _, rms, _ in rows if rms > 0]
        median = float(np.median(live)) if live else 0.0
        findings = []
        for name, rms, nodes in rows:
            ratio = rms / median if median > 0 else 0.0
            biggest = max(nodes, key=lambda n: abs(grad[n]) if math.isfinite(grad[n]) else -1)
            ordered = (biggest,) + tuple(n for n in nodes if n != biggest)
            scope = f"params/{name}" if name else "params"  # as the Trace's scope column says
            name = name or UNNAMED
            if rms == 0:
                findings.append(Finding("vanishing_grad", "warning", f"vanishing gradient in {name}: every entry's gradient is exactly 0", ordered, scope, 0.0))
                continue
            text = f"{name}: gradient RMS {rms:.3e}, {ratio:.3g} x the median matrix's {median:.3e}"
            if ratio < self.settings.vanishing:
                findings.append(Finding("vanishing_grad", "warning", f"vanishing gradient in {text}", ordered, scope, ratio))
            elif ratio > self.settings.exploding:
                findings.append(Finding("exploding_grad", "warning", f"exploding gradient in {text}", ordered, scope, ratio))
            else:
                findings.append(Finding("layer_grad", "info", text, ordered, scope, ratio))
        return findings

    def largest_grads(self):
        grad = np.abs(self.trace.grad)
        best = {}
        for node, module in enumerate(self.modules):
            g = grad[node]
            if math.isfinite(g) and (module not in best or g > grad[best[module]]):
                best[module] = node
        rows = sorted(best.items(), key=lambda item: -grad[item[1]])
        return [
            Finding("largest_grad", "info", f"{module}: largest |grad| {self.trace.grad[node]:+.4e} at {self.describe(node)}",
                    (node,), module, float(grad[node]))
            for module, node in rows
        ]

    def high_loss_tokens(self):
        trace = self.trace
        losses = np.array(trace.position_losses)
        order = [int(p) for p in np.argsort(-np.nan_to_num(losses, nan=np.inf), kind="stable")]
        findings = []
        for pos in order[: self.settings.top_tokens]:
            loss = losses[pos]
            node = trace.position_loss_nodes[pos]
            probability = math.exp(-loss) if math.isfinite(loss) else math.nan
            labels = trace.token_labels
            if pos + 1 < len(labels):
                what = f"after {labels[pos]!r} the target {labels[pos + 1]!r} costs {loss:.4f} (p = {probability:.4f})"
            else:  # a script's step without tokens: its loss need not be -log p
                what = f"the loss is {loss:.4f}"
            findings.append(Finding(
                "high_loss_token", "info",
                f"pos{pos}: {what}",
                (node,), f"pos{pos}/loss", float(loss),
            ))
        return findings


def _module_scopes(scopes):
    cache = {}
    out = []
    for path in scopes:
        module = cache.get(path)
        if module is None:
            module = cache[path] = module_scope(path)
        out.append(module)
    return out


def _layer_of(path, unit):
    """The layer a relu belongs to: from its scope (pos3/layer0/mlp/relu), else from the matrix feeding it."""
    for part in path.split("/"):
        if part.startswith("layer") and part[5:].isdigit():
            return part
    if unit is not None:
        matrix = unit[0]
        head = matrix.split(".", 1)[0]
        return head if head.startswith("layer") and head[5:].isdigit() else matrix
    return "relus"


def _relu_scope(path):
    """Where a layer's relus are, without position or the relu's own scope: 'layer0/mlp'."""
    head, _, last = module_scope(path).rpartition("/")
    return head if head and last.startswith("relu") else module_scope(path)


def _matrix_order(trace):
    """The step's parameter matrices in model order: microgpt's names first, then any others a script has."""
    present = trace.param_nodes
    if trace.config is not None:
        n_layer = trace.config.n_layer
    else:  # a script's step: as many layers as its names say
        layers = [int(m[5:].split(".", 1)[0]) for m in present if m.startswith("layer") and m[5:].split(".", 1)[0].isdigit()]
        n_layer = max(layers, default=-1) + 1
    known = [m for m in matrix_names(n_layer) if m in present]
    return known + sorted(m for m in present if m not in set(known))


def _linear_row(trace, wiring, node):
    """(matrix, row) of the weights whose dot product `node` is (a linear() output), or None.

    A dot product is a chain of `+` nodes, each adding one `w * x` product; the last `+`
    holds the last product, whose weight (a parameter) names the matrix and the row.
    """
    for child in (wiring.child0[node], wiring.child1[node]):
        if child < 0 or trace.op[child] != "*":
            continue
        for weight in (wiring.child0[child], wiring.child1[child]):
            attrs = trace.node_attributes(weight)
            if attrs["kind"] == "param" and attrs["param"] and attrs["row"] >= 0:
                return attrs["param"], attrs["row"]
    return None
