"""`microgpt-viz record`: record one step's graph, print its summary, optionally write GraphML."""
import json

from core.engine.data import quoted
from microgpt_viz.cli.args import UserError, add_common, add_step_choice, check_writable, make_trainer, write_atomically
from microgpt_viz.cli.script_source import add_script_arguments, script_step_name, summary_of, trace_from_script

NAME = "record"


def add_parser(subparsers):
    parser = subparsers.add_parser(NAME, help="record one step's graph and print a summary")
    add_common(parser)
    add_step_choice(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("-o", "--output", metavar="FILE.graphml", help="write the graph as GraphML")
    add_script_arguments(parser)
    return parser


def _record_built_in(args):
    trainer = make_trainer(args)
    if args.doc is not None:
        return trainer.record(trainer.tokenizer.check(args.doc))
    at = args.at_step or 0
    if at >= trainer.planned_steps:
        raise UserError(f"--at-step {at} is beyond the plan: steps run from 0 to {trainer.planned_steps - 1} (raise --steps)")
    for _ in range(at):
        trainer.step()
    return trainer.record()


def run(args):
    output = check_writable(args.output) if args.output else None
    if args.script:
        trace = trace_from_script(args)
        summary = summary_of(trace, args)
        where = f"{script_step_name(args)} on"
    else:
        trace = _record_built_in(args)
        summary = trace.summary()
        where = f"step {trace.step} on"
    if output:
        write_atomically(output, trace.write_graphml)
        summary["graphml"] = str(output)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{where} {quoted(trace.doc)}: {trace.positions} positions, {trace.num_nodes} nodes, {trace.num_edges} edges, loss {trace.loss:.4f}")
        if output:
            print(f"wrote {output}")
    return 0
