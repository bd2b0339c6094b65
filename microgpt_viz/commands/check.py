"""`microgpt-viz check`: the anomaly report of one recorded step."""
import json
from dataclasses import asdict

from core.anomaly import AnomalySettings, check
from microgpt_viz.cli import _non_negative_int, _positive_float
from microgpt_viz.commands.recorded_step import record_from_args

NAME = "check"
SHOWN_NODES = 4  # node ids printed per finding; --json lists them all
SHOWN_SCOPES = 12  # rows of the largest-|grad| table unless --all


def add_parser(subparsers, add_common, add_step_choice):
    parser = subparsers.add_parser(
        NAME,
        help="report NaN/Inf, dead ReLUs, saturated softmaxes, gradient scale and costly tokens",
        description="Anomaly report of one recorded step. Exit status 1 when it holds NaN/Inf.",
    )
    add_common(parser)
    add_step_choice(parser)
    defaults = AnomalySettings()
    parser.add_argument("--saturation", type=_positive_float, default=defaults.saturation, metavar="W", help=f"a softmax weight above W is saturated (default {defaults.saturation})")
    parser.add_argument("--top-tokens", type=_non_negative_int, default=defaults.top_tokens, metavar="K", help=f"tokens with the highest loss to list (default {defaults.top_tokens})")
    parser.add_argument("--all", action="store_true", help="list every scope in the largest-|grad| table")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON, with every node id")
    return parser


def _nodes(nodes):
    shown = ", ".join(f"#{n}" for n in nodes[:SHOWN_NODES])
    more = len(nodes) - SHOWN_NODES
    return shown + (f" (+{more} more)" if more > 0 else "")


def run(args):
    _, trace = record_from_args(args)
    settings = AnomalySettings(saturation=args.saturation, top_tokens=args.top_tokens)
    report = check(trace, settings)
    if args.json:
        print(json.dumps({"doc": report.doc, "step": report.step, "findings": [asdict(f) for f in report.findings]}))
        return 1 if report.has_errors else 0

    problems = report.of_severity("error") + report.of_severity("warning")
    print(f"anomaly report, step {trace.step} on {trace.doc!r} ({args.preset}): "
          f"{len(report.of_severity('error'))} errors, {len(report.of_severity('warning'))} warnings")
    print("\nproblems:" if problems else "\nproblems: none")
    for f in problems:
        print(f"  {f.severity:<7}  {f.message}  [{_nodes(f.nodes)}]")
    print("\ndead relus:")
    for f in report.of_kind("dead_relus"):
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
        print("\ntokens with the highest loss:")
        for f in tokens:
            print(f"  {f.message}  [#{f.nodes[0]}]")
    return 1 if report.has_errors else 0
