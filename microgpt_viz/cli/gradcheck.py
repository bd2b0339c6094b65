"""`microgpt-viz gradcheck`: recorded gradients against central finite differences of the loss.

With --script, the gradients are those the user's own backward() computed, checked against
finite differences through the graph their script built.
"""
import argparse
import re

from core.debug.gradcheck import STEP, TOLERANCE, GradChecker, NotReplayable, param_node, sample_params
from core.engine.data import quoted
from microgpt_viz.cli.args import UserError, add_common, add_step_choice, non_negative_int, positive_float
from microgpt_viz.cli.recorded_step import record_from_args
from microgpt_viz.cli.script_source import add_script_arguments, script_step_name, trace_from_script

NAME = "gradcheck"
DEFAULT_PARAMS = 20
_PARAM = re.compile(r"^([\w.]+)\[(\d+)\]\[(\d+)\]$")


def _param_spec(text):
    match = _PARAM.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected MATRIX[row][col] such as layer0.attn_wq[3][5], got {text!r}")
    return match.group(1), int(match.group(2)), int(match.group(3))


def add_parser(subparsers):
    parser = subparsers.add_parser(
        NAME,
        help="compare recorded gradients with finite differences; exit 1 when any disagrees",
        description="Compare recorded gradients with central finite differences of the loss. Exit status 1 when any relative error exceeds the tolerance.",
    )
    add_common(parser)
    add_step_choice(parser)
    parser.add_argument("--params", type=non_negative_int, default=None, metavar="N", help=f"check N parameters drawn at random, spread over the matrices (default {DEFAULT_PARAMS} unless --node/--param is given)")
    parser.add_argument("--node", type=non_negative_int, action="append", default=[], metavar="ID", help="check this node id (repeatable)")
    parser.add_argument("--param", type=_param_spec, action="append", default=[], metavar="M[r][c]", help="check this parameter, e.g. layer0.attn_wq[3][5] (repeatable)")
    parser.add_argument("--tolerance", type=positive_float, default=TOLERANCE, metavar="T", help=f"largest relative error that passes (default {TOLERANCE:g})")
    parser.add_argument("--nudge", type=positive_float, default=STEP, metavar="H", help=f"finite-difference step, relative to max(1, |value|) (default {STEP:g})")
    parser.add_argument("--pick-seed", type=int, default=0, metavar="S", help="seed for choosing the random parameters (default 0)")
    add_script_arguments(parser)
    return parser


def run(args):
    trace = trace_from_script(args) if args.script else record_from_args(args)[1]
    nodes = list(args.node)
    for node in nodes:
        if node >= trace.num_nodes:
            raise UserError(f"--node {node} is not in this step's graph (ids run from 0 to {trace.num_nodes - 1})")
    for name, row, col in args.param:
        try:
            nodes.append(param_node(trace, name, row, col))
        except ValueError as e:
            raise UserError(str(e)) from None
    count = args.params if args.params is not None else (0 if nodes else DEFAULT_PARAMS)
    nodes += [n for n in sample_params(trace, count, args.pick_seed) if n not in set(nodes)]
    if not nodes:
        raise UserError("nothing to check: give --params N, --node ID or --param M[r][c]")
    try:
        report = GradChecker(trace, args.nudge, args.tolerance).check(nodes)
    except NotReplayable as e:
        raise UserError(str(e)) from None

    if args.script:
        what = script_step_name(args) + (f" on {quoted(trace.doc)}" if trace.doc else "")
    else:
        what = f"step {trace.step} on {quoted(trace.doc)} ({args.preset})"
    print(f"gradcheck of {what}: {len(report.rows)} nodes, nudge {report.step:g}, tolerance {report.tolerance:g}")
    print(f"{'node':>7}  {'what':<34} {'recorded':>14} {'numerical':>14} {'abs err':>9} {'rel err':>9}  verdict")
    for row in report.rows:
        verdict = "kink" if row.kink else ("FAIL" if report.failed(row) else "ok")
        print(f"{row.node:>7}  {row.label:<34} {row.recorded:>14.6e} {row.numerical:>14.6e} {row.abs_error:>9.1e} {row.rel_error:>9.1e}  {verdict}")
    failures = report.failures
    judged = sum(not row.kink for row in report.rows)
    kinks = len(report.rows) - judged
    kink_note = f" ({kinks} skipped: the nudge crosses a relu kink)" if kinks else ""
    worst = report.worst
    worst_note = f"; worst relative error {worst.rel_error:.1e} at {worst.label}" if worst else ""
    if failures:
        print(f"FAILED: {len(failures)} of {judged} exceed the tolerance {report.tolerance:g}{worst_note}{kink_note}")
        return 1
    print(f"ok: {judged} of {judged} within the tolerance {report.tolerance:g}{worst_note}{kink_note}")
    return 0
