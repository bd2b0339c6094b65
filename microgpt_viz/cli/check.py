"""`microgpt-viz check`: the anomaly report of one recorded step, the built-in model's or a user's script's."""
import json
from dataclasses import asdict

from core.debug.anomaly import AnomalySettings, check
from core.engine.data import quoted
from microgpt_viz.cli.args import add_common, add_step_choice, non_negative_int, positive_float
from microgpt_viz.cli.recorded_step import record_from_args
from microgpt_viz.cli.script_source import add_script_arguments, script_step_name, trace_from_script

NAME = "check"
SHOWN_NODES = 4  # node ids printed per finding; --json lists them all
SHOWN_SCOPES = 12  # rows of the largest-|grad| table unless --all


def add_parser(subparsers):
    parser = subparsers.add_parser(
        NAME,
        help="report NaN/Inf, dead ReLUs, saturated softmaxes, gradient scale and costly tokens",
        description="Anomaly report of one recorded step, or of the first step of your own microgpt script "
        "(--script). Exit status 1 when it holds NaN/Inf.",
    )
    add_common(parser)
    add_step_choice(parser)
    defaults = AnomalySettings()
    parser.add_argument("--saturation", type=positive_float, default=defaults.saturation, metavar="W", help=f"a softmax weight above W is saturated (default {defaults.saturation})")
    parser.add_argument("--top-tokens", type=non_negative_int, default=defaults.top_tokens, metavar="K", help=f"tokens with the highest loss to list (default {defaults.top_tokens})")
    parser.add_argument("--all", action="store_true", help="list every scope in the largest-|grad| table")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON, with every node id")
    add_script_arguments(parser)
    return parser


def _nodes(nodes):
    shown = ", ".join(f"#{n}" for n in nodes[:SHOWN_NODES])
    more = len(nodes) - SHOWN_NODES
    return shown + (f" (+{more} more)" if more > 0 else "")


def _what(trace, args):
    if args.script:
        doc = f" on {quoted(trace.doc)}" if trace.doc else ""
        return script_step_name(args) + doc
    return f"step {trace.step} on {quoted(trace.doc)} ({args.preset})"


def run(args):
    trace = trace_from_script(args) if args.script else record_from_args(args)[1]
    settings = AnomalySettings(saturation=args.saturation, top_tokens=args.top_tokens)
    report = check(trace, settings)
    if args.json:
        found = {"doc": report.doc, "step": report.step, "findings": [asdict(f) for f in report.findings]}
        if args.script:
            found["script"] = args.script
        print(json.dumps(found))
        return 1 if report.has_errors else 0

    problems = report.of_severity("error") + report.of_severity("warning")
    print(f"anomaly report, {_what(trace, args)}: "
          f"{len(report.of_severity('error'))} errors, {len(report.of_severity('warning'))} warnings")
    if trace.attention_nodes.size == 0:
        print("(no attention tables for this step: attention softmaxes are not checked for saturation)")
    print("\nproblems:" if problems else "\nproblems: none")
    for f in problems:
        print(f"  {f.severity:<7}  {f.message}  [{_nodes(f.nodes)}]")
    relus = report.of_kind("dead_relus")
    print("\ndead relus:" if relus else "\ndead relus: none (no relu in this step)")
    for f in relus:
        print(f"  {f.message}")
    print("\ngradient scale per matrix (RMS, as a multiple of the median matrix's):")
    for f in report.findings:
        if f.kind in ("layer_grad", "vanishing_grad", "exploding_grad"):
            mark = {"layer_grad": "", "vanishing_grad": "  vanishing", "exploding_grad": "  exploding"}[f.kind]
            print(f"  {f.scope:<24} x {f.value:<9.3g} [{_nodes(f.nodes[:1])}]{mark}")
    largest = report.of_kind("largest_grad")
    shown = largest if args.all else largest[:SHOWN_SCOPES]
    more = "" if len(shown) == len(largest) else f" (top {len(shown)} of {len(largest)}; --all for every scope)"
    print(f"\nlargest |grad| per scope{more}:")
    for f in shown:
        node = f.nodes[0]
        print(f"  {f.scope:<28} {trace.grad[node]:+.4e}  #{node} {trace.op[node]}")
    tokens = report.of_kind("high_loss_token")
    if tokens:
        print("\ntokens with the highest loss:" if trace.tokens else "\npositions with the highest loss:")
        for f in tokens:
            print(f"  {f.message}  [#{f.nodes[0]}]")
    return 1 if report.has_errors else 0
