"""`microgpt-viz diff`: record the same doc in two runs and show what changed.

A run is chosen by a spec, comma-separated key=value pairs over the common options:
  preset=latest  seed=7  lr=0.02  step=5 (updates before recording)  steps=100 (planned N)
or a user's own microgpt script, run unmodified in its own folder:
  script=PATH  at_backward=K (its K-th backward() call, default 1)  cwd=DIR (where it runs, default its folder)
e.g. `diff --a step=0 --b step=5` (one run, before and after five updates),
`diff --b seed=7` (two seeds at step 0) or `diff --a script=my_gpt.py --b preset=latest`
(where does my version first differ from microgpt?). An empty spec is the common options as given.
With a script on one side, both sides record the doc the script trained on.
"""
import argparse
import json
from pathlib import Path

import numpy as np

from core.engine.config import PRESETS
from core.engine.data import load_docs, resolve_data_path, quoted
from core.debug.diff import TOLERANCE, ShapeMismatch, diff
from core.debug.gradcheck import node_label
from core.engine.train import Trainer
from core.script.run import ScriptError, record_script
from microgpt_viz.cli.args import UserError, add_common, make_config, non_negative_int
from microgpt_viz.cli.recorded_step import advance_to

NAME = "diff"
SPEC_KEYS = ("preset", "seed", "lr", "step", "steps", "script", "at_backward", "cwd")
SCRIPT_KEYS = ("at_backward", "cwd")
BUILT_IN_KEYS = ("preset", "seed", "lr", "step", "steps")


def _number(key, text, kind, positive=False, allow_zero=True):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{key}={text!r} is not a {'whole number' if kind is int else 'number'}") from None
    if positive and not (value > 0 or (allow_zero and value == 0)):
        raise argparse.ArgumentTypeError(f"{key} must be {'>= 0' if allow_zero else '> 0'}, got {text}")
    return value


def parse_spec(text):
    """'preset=latest,step=5' -> {'preset': 'latest', 'step': 5}."""
    spec = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value:
            raise argparse.ArgumentTypeError(f"expected key=value, got {part!r} (keys: {', '.join(SPEC_KEYS)})")
        if key not in SPEC_KEYS:
            raise argparse.ArgumentTypeError(f"unknown key {key!r} (keys: {', '.join(SPEC_KEYS)})")
        if key in spec:
            raise argparse.ArgumentTypeError(f"{key} is given twice")
        if key == "preset":
            if value not in PRESETS:
                raise argparse.ArgumentTypeError(f"unknown preset {value!r} (choose from {', '.join(PRESETS)})")
            spec[key] = value
        elif key == "seed":
            spec[key] = _number(key, value, int)
        elif key == "lr":
            spec[key] = _number(key, value, float, positive=True, allow_zero=False)
        elif key == "step":
            spec[key] = _number(key, value, int, positive=True)
        elif key in ("script", "cwd"):
            spec[key] = value
        else:
            spec[key] = _number(key, value, int, positive=True, allow_zero=False)
    for key in SCRIPT_KEYS:
        if key in spec and "script" not in spec:
            raise argparse.ArgumentTypeError(f"{key} needs script=PATH (it applies to a script's run)")
    if "script" in spec and any(key in spec for key in BUILT_IN_KEYS):
        built_in = ", ".join(key for key in BUILT_IN_KEYS if key in spec)
        raise argparse.ArgumentTypeError(f"{built_in} cannot go with script= (a script sets up its own model and training)")
    return spec


def add_parser(subparsers):
    parser = subparsers.add_parser(
        NAME,
        help="record the same doc in two runs (steps, presets, seeds, learning rates) and diff them",
        description=__doc__.split("\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(parser)
    parser.add_argument("--a", type=parse_spec, default={}, metavar="SPEC", help="run A, e.g. step=0 (default: the common options)")
    parser.add_argument("--b", type=parse_spec, default={}, metavar="SPEC", help="run B, e.g. step=5 or preset=latest,seed=7")
    parser.add_argument("--doc", metavar="NAME", help="the doc both runs record (default: the one run A trains on at its step)")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, metavar="T", help=f"relative difference that counts as a change (default {TOLERANCE:g})")
    parser.add_argument("--top", type=non_negative_int, default=10, metavar="K", help="scopes to list, most changed first (default 10)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


class _ScriptRun:
    """One side of the diff taken from a user's script: its step is fixed, and so is its doc."""

    def __init__(self, args, spec):
        self.script = spec["script"]
        self.at_backward = spec.get("at_backward", 1)
        try:
            self.trace = record_script(self.script, cwd=spec.get("cwd"), at_backward=self.at_backward)
        except ScriptError as e:
            raise UserError(str(e)) from None
        self.doc = self.trace.doc

    def record(self, doc):
        return self.trace

    def describe(self):
        return f"{Path(self.script).name}, backward() call {self.at_backward}"


class _Run:
    doc = None  # any doc: the built-in model records whichever it is asked for

    def __init__(self, args, spec, docs):
        base = argparse.Namespace(**vars(args))
        base.preset = spec.get("preset", args.preset)
        base.seed = spec.get("seed", args.seed)
        base.steps = spec.get("steps", args.steps)
        config = make_config(base)
        if "lr" in spec:
            config = config.with_changes(learning_rate=spec["lr"])
        self.preset = base.preset
        self.config = config
        self.step = spec.get("step", 0)
        self.trainer = advance_to(Trainer(docs, config), self.step)

    def record(self, doc):
        return self.trainer.record(self.trainer.tokenizer.check(doc))

    def describe(self):
        c = self.config
        return f"{self.preset}, seed {c.seed}, lr {c.learning_rate:g}, after {self.step} of {c.num_steps} steps"


def _show(trace, node, value):
    label = node_label(trace, node).removesuffix(f" #{node}")
    return f"#{node} {label}: {value:.6e}"


def _source(trace, node):
    """'model.py:57' for where a node was made, or '' when the recording does not say."""
    attrs = trace.node_attributes(node)
    file, line = attrs.get("file"), attrs.get("line")
    return f"{Path(file).name}:{line}" if file and line else ""


def _divergence_json(trace_a, trace_b, divergence):
    if divergence is None:
        return None
    node = divergence.node
    return {"node": node, "scope": divergence.scope, "a": divergence.a, "b": divergence.b,
            "source_a": _source(trace_a, node), "source_b": _source(trace_b, node)}


def _max_abs(delta):
    finite = np.abs(delta[np.isfinite(delta)])
    return float(finite.max()) if len(finite) else 0.0


def _doc_to_record(run_a, run_b, args):
    """The doc both sides record: the script's when one side is a script, else --doc or run A's doc at its step."""
    script_docs = [r.doc for r in (run_a, run_b) if r.doc is not None]
    if len(script_docs) == 2:
        return script_docs[0]
    if script_docs:
        if args.doc is not None and args.doc != script_docs[0]:
            raise UserError(f"--doc {quoted(args.doc)} cannot apply: the script trained on {quoted(script_docs[0])} at that step")
        return script_docs[0]
    return args.doc if args.doc is not None else run_a.trainer.doc_for_step(run_a.step)


def _make_run(args, spec, docs):
    return _ScriptRun(args, spec) if "script" in spec else _Run(args, spec, docs())


def _where(trace_a, trace_b, node):
    """' (A: model.py:57, B: my_gpt.py:80)', or '' when neither recording says."""
    a, b = _source(trace_a, node), _source(trace_b, node)
    if not (a or b):
        return ""
    return f" (made at A: {a or '?'}, B: {b or '?'})" if a != b else f" (made at {a})"


def run(args):
    if args.tolerance < 0:
        raise UserError(f"--tolerance must be >= 0, got {args.tolerance}")
    loaded = []

    def docs():  # read once, and only when a side is the built-in model
        if not loaded:
            loaded.append(load_docs(resolve_data_path(args.data)))
        return loaded[0]

    run_a = _make_run(args, args.a, docs)
    run_b = _make_run(args, args.b, docs)
    doc = _doc_to_record(run_a, run_b, args)
    trace_a, trace_b = run_a.record(doc), run_b.record(doc)
    try:
        result = diff(trace_a, trace_b, args.tolerance)
    except ShapeMismatch as e:
        if not args.json:
            raise UserError(str(e)) from None
        first = e.first
        print(json.dumps({
            "a": run_a.describe(), "b": run_b.describe(), "doc": doc, "same_shape": False,
            "nodes_a": trace_a.num_nodes, "nodes_b": trace_b.num_nodes, "message": str(e),
            "first_shape_difference": first and {
                "node": first.node, "op_a": first.op_a, "scope_a": first.scope_a, "op_b": first.op_b, "scope_b": first.scope_b},
        }))
        return 0

    first_data, first_grad = result.first_data_divergence, result.first_grad_divergence
    first_local = result.first_local_grad_divergence
    if args.json:
        print(json.dumps({
            "a": run_a.describe(), "b": run_b.describe(), "doc": doc, "same_shape": True, "nodes": trace_a.num_nodes,
            "loss_a": trace_a.loss, "loss_b": trace_b.loss, "loss_delta": result.loss_delta,
            "max_abs_data_diff": _max_abs(result.data_delta), "max_abs_grad_diff": _max_abs(result.grad_delta),
            "data_changed": int(result.data_changed.sum()), "grad_changed": int(result.grad_changed.sum()),
            "first_data_divergence": _divergence_json(trace_a, trace_b, first_data),
            "first_grad_divergence": _divergence_json(trace_a, trace_b, first_grad),
            "first_local_grad_divergence": _divergence_json(trace_a, trace_b, first_local),
            "scopes": [{"scope": s.scope, "changed": s.changed, "data_change": s.data_change, "grad_change": s.grad_change, "node": s.node} for s in result.scopes[: args.top]],
        }))
        return 0

    print(f"A: {run_a.describe()}")
    print(f"B: {run_b.describe()}")
    print(f"doc {quoted(doc)}: {trace_a.num_nodes} nodes, {trace_a.num_edges} edges; tolerance {result.tolerance:g}")
    print(f"loss: A {trace_a.loss:.4f}  B {trace_b.loss:.4f}  B-A {result.loss_delta:+.4e}")
    print("position losses B-A: " + " ".join(f"{d:+.4f}" for d in result.position_loss_deltas))
    if result.identical:
        print("identical: no node's data or grad differs beyond the tolerance")
        return 0
    n = trace_a.num_nodes
    print(f"changed: data in {int(result.data_changed.sum())} of {n} nodes, grads in {int(result.grad_changed.sum())}")
    if first_data:
        print(f"first data divergence (forward order): {_show(trace_a, first_data.node, first_data.a)} -> {first_data.b:.6e}"
              f"{_where(trace_a, trace_b, first_data.node)}")
    if first_grad:
        print(f"first grad divergence (backward order): {_show(trace_a, first_grad.node, first_grad.a)} -> {first_grad.b:.6e}"
              f"{_where(trace_a, trace_b, first_grad.node)}")
    if first_local:
        print(f"first local gradient that differs (backward order): {_show(trace_a, first_local.node, first_local.a)} -> "
              f"{first_local.b:.6e}, on its argument #{first_local.operand}{_where(trace_a, trace_b, first_local.node)}")
    if args.top:
        print("scopes that changed most (RMS change relative to A's RMS):")
        print(f"  {'scope':<30} {'nodes':>6} {'changed':>7} {'data':>9} {'grad':>9}  most changed")
        for s in result.scopes[: args.top]:
            print(f"  {s.scope:<30} {s.nodes:>6} {s.changed:>7} {s.data_change:>9.2e} {s.grad_change:>9.2e}  #{s.node}")
    return 0
