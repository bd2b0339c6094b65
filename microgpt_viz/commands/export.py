"""`microgpt-viz export`: a Graphviz diagram of a view of one recorded step (DOT, SVG, PDF, PNG)."""
import sys
from pathlib import Path

from core.export import FORMATS, MAX_NODES, ViewTooLarge, render_diagram, to_dot
from core.export_style import THEME_NAMES
from core.layout import GraphvizFailed, GraphvizNotFound
from core.view import LEVELS, View
from microgpt_viz.cli import UserError, _non_negative_int, check_writable, write_atomically
from microgpt_viz.commands.recorded_step import record_from_args
from microgpt_viz.commands.script_source import add_script_arguments, trace_from_script

NAME = "export"
SUFFIXES = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".pdf": "pdf", ".png": "png"}


def add_parser(subparsers, add_common, add_step_choice):
    parser = subparsers.add_parser(
        NAME,
        help="write a Graphviz diagram (DOT, SVG, PDF, PNG) of a view of one step",
        description="Write a Graphviz diagram of one recorded step: a token's loss cone or the whole loss, "
        "collapsed into modules, vectors or single values.",
    )
    add_common(parser)
    add_step_choice(parser)
    parser.add_argument("--token", type=_non_negative_int, metavar="T", help="the loss cone of position T (from 0; position 0 reads BOS and predicts the first letter); default: the whole step's loss")
    parser.add_argument("--scope", metavar="PATH", help="show only this scope and what feeds it, e.g. pos2/layer0/attn/head1")
    detail = parser.add_mutually_exclusive_group()
    detail.add_argument("--level", choices=LEVELS, default=None, help="detail: module (default), vector or scalar")
    detail.add_argument("--depth", type=_non_negative_int, metavar="N", help="expand groups N levels deep (below --scope when given)")
    parser.add_argument("--format", choices=FORMATS, help="output format (default: from the suffix of -o, else dot)")
    parser.add_argument("--theme", choices=THEME_NAMES, default="light", help="light (default), dark or slides")
    parser.add_argument("--rankdir", choices=("LR", "TB"), default="TB", help="TB top to bottom (default) or LR left to right")
    parser.add_argument("--color-by", choices=("data", "grad", "absgrad", "none"), default="grad", help="fill colour: grad (default), data, absgrad or none")
    parser.add_argument("-o", "--output", metavar="FILE", help="where to write (default: DOT on stdout)")
    add_script_arguments(parser)
    return parser


def output_format(args):
    if args.format:
        return args.format
    if args.output:
        suffix = Path(args.output).suffix.lower()
        if suffix not in SUFFIXES:
            raise UserError(f"cannot tell the format from {args.output!r}; give --format ({', '.join(FORMATS)})")
        return SUFFIXES[suffix]
    return "dot"


def build_view(trace, args):
    level = args.level or "module"
    try:
        view = View.for_token(trace, args.token, level=level) if args.token is not None else View(trace, level=level)
        if args.scope:
            view.focus(args.scope)
        if args.depth is not None:
            view.expand_to_depth(args.depth)
    except ValueError as e:
        raise UserError(str(e)) from None
    return view


def title_of(trace, args):
    where = f"step {trace.step}, {trace.doc!r}"
    if args.token is None:
        what = "loss of the whole step"
    else:
        t, labels = args.token, trace.token_labels
        what = f"loss of position {t}"
        if t + 1 < len(labels):  # a script's trace may not know its tokens
            what += f" (reads {labels[t]!r}, predicts {labels[t + 1]!r})"
    scope = f", scope {args.scope}" if args.scope else ""
    return f"{what}{scope}  ·  {where}"


def run(args):
    fmt = output_format(args)
    if fmt != "dot" and not args.output:
        raise UserError(f"{fmt} is binary: give -o FILE.{fmt}")
    output = check_writable(args.output) if args.output else None
    trace = trace_from_script(args) if args.script else record_from_args(args)[1]
    if args.token is not None and args.token >= trace.positions:
        raise UserError(
            f"--token {args.token} is out of range: {trace.doc!r} has positions 0 to {trace.positions - 1}"
        )
    rendered = build_view(trace, args).render()
    try:
        source = to_dot(rendered, args.theme, args.rankdir, args.color_by, title=title_of(trace, args), max_nodes=MAX_NODES)
        payload = render_diagram(source, fmt)
    except ViewTooLarge as e:
        raise UserError(str(e)) from None
    except (GraphvizNotFound, GraphvizFailed) as e:
        raise UserError(str(e)) from None
    if output is None:
        sys.stdout.write(payload.decode("utf-8"))
        return 0
    write_atomically(output, lambda path: Path(path).write_bytes(payload))
    print(f"wrote {output}: {len(rendered.nodes)} nodes, {len(rendered.edges)} edges ({fmt}, {args.theme})")
    return 0
