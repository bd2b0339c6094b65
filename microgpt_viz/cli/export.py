"""`microgpt-viz export`: a Graphviz diagram of a view of one recorded step (DOT, SVG, PDF, PNG).

With --backward-step K it shows the grads as backward has left them after visiting K nodes
(core/debug/replay.py); --frames N writes N such diagrams, evenly spaced from the start of backward
to its end, for a slide deck that shows gradient flow frame by frame.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from core.views.export import FORMATS, MAX_NODES, ViewTooLarge, render_diagram, to_dot
from core.views.export_replay import replay_sources
from core.views.export_style import THEME_NAMES
from core.views.layout import GraphvizFailed, GraphvizNotFound
from core.debug.replay import replay_of
from core.views.view import LEVELS, View
from microgpt_viz.cli.args import UserError, add_common, add_step_choice, check_writable, non_negative_int, write_atomically
from microgpt_viz.cli.recorded_step import record_from_args
from microgpt_viz.cli.script_source import add_script_arguments, trace_from_script

NAME = "export"
SUFFIXES = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".pdf": "pdf", ".png": "png"}


def add_parser(subparsers):
    parser = subparsers.add_parser(
        NAME,
        help="write a Graphviz diagram (DOT, SVG, PDF, PNG) of a view of one step",
        description="Write a Graphviz diagram of one recorded step: a token's loss cone or the whole loss, "
        "collapsed into modules, vectors or single values.",
    )
    add_common(parser)
    add_step_choice(parser)
    parser.add_argument("--token", type=non_negative_int, metavar="T", help="the loss cone of position T (from 0; position 0 reads BOS and predicts the first letter); default: the whole step's loss")
    parser.add_argument("--scope", metavar="PATH", help="show only this scope and what feeds it, e.g. pos2/layer0/attn/head1")
    detail = parser.add_mutually_exclusive_group()
    detail.add_argument("--level", choices=LEVELS, default=None, help="detail: module (default), vector or scalar")
    detail.add_argument("--depth", type=non_negative_int, metavar="N", help="expand groups N levels deep (below --scope when given)")
    parser.add_argument("--format", choices=FORMATS, help="output format (default: from the suffix of -o, else dot)")
    parser.add_argument("--theme", choices=THEME_NAMES, default="light", help="light (default), dark or slides")
    parser.add_argument("--rankdir", choices=("LR", "TB"), default="TB", help="TB top to bottom (default) or LR left to right")
    parser.add_argument("--color-by", choices=("data", "grad", "absgrad", "none"), default=None, help="fill colour: grad (default), data, absgrad (the default with --backward-step/--frames: groups show how much gradient has reached them) or none")
    parser.add_argument("-o", "--output", metavar="FILE", help="where to write (default: DOT on stdout)")
    replay = parser.add_mutually_exclusive_group()
    replay.add_argument("--backward-step", type=non_negative_int, metavar="K", help="show the grads as they stand after backward has visited K nodes (0: only the loss has its grad of 1; the step's node count: backward done)")
    replay.add_argument("--frames", type=_frame_count, metavar="N", help="write N frames evenly spaced over backward, from K=0 to done, as FILE-000.EXT ... (needs -o); the same layout and colour scale in every frame")
    add_script_arguments(parser)
    return parser


def _frame_count(text):
    count = non_negative_int(text)
    if count < 2:
        raise argparse.ArgumentTypeError(f"a replay needs at least 2 frames (the start and the end), got {count}")
    return count


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
    if args.script:
        where = f"{Path(args.script).name}, first backward()" + (f" on {trace.doc!r}" if trace.doc else "")
    else:
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


def frame_paths(output, count):
    """FILE-000.EXT ... for `count` frames (more digits when 1000 or more)."""
    output = Path(output)
    digits = max(3, len(str(count - 1)))
    return [output.with_name(f"{output.stem}-{i:0{digits}d}{output.suffix}") for i in range(count)]


def check_token(trace, args):
    if args.token is None:
        return
    if trace.positions == 0:
        raise UserError("--token does not apply: this step's loss is not a mean of per-position losses, so it has no positions")
    if args.token >= trace.positions:
        raise UserError(f"--token {args.token} is out of range: {trace.doc!r} has positions 0 to {trace.positions - 1}")


def replay_positions(trace, rendered, args):
    """The backward positions to draw: [] for a plain export, [K], or N evenly spaced over the
    stretch of backward that changes the view's grads."""
    if args.backward_step is not None:
        if args.backward_step > trace.num_nodes:
            raise UserError(
                f"--backward-step {args.backward_step} is out of range: backward visits this step's "
                f"{trace.num_nodes} nodes, so K runs from 0 to {trace.num_nodes}"
            )
        return [args.backward_step]
    if args.frames is not None:
        members = np.unique(np.concatenate([n.members for n in rendered.nodes]))
        try:
            return replay_of(trace).frames(args.frames, members)
        except ValueError as e:
            raise UserError(f"--frames {args.frames}: {e}") from None
    return []


def diagrams(trace, rendered, args, fmt, positions):
    """The bytes of each file to write: one diagram, or one per backward position."""
    title = title_of(trace, args)
    try:
        if positions:
            sources = replay_sources(rendered, trace, positions, args.theme, args.rankdir, args.color_by, title, MAX_NODES)
        else:
            sources = [to_dot(rendered, args.theme, args.rankdir, args.color_by, title=title, max_nodes=MAX_NODES)]
        return [render_diagram(source, fmt) for source in sources]
    except ViewTooLarge as e:
        raise UserError(str(e)) from None
    except (GraphvizNotFound, GraphvizFailed) as e:
        raise UserError(str(e)) from None


def run(args):
    fmt = output_format(args)
    if args.frames is not None and not args.output:
        raise UserError("--frames writes one file per frame: give -o FILE (frames go to FILE-000.EXT, FILE-001.EXT, ...)")
    if fmt != "dot" and not args.output:
        raise UserError(f"{fmt} is binary: give -o FILE.{fmt}")
    replaying = args.backward_step is not None or args.frames is not None
    if args.color_by is None:
        # a collapsed group's fill shows only |grad| (its largest); that is what a replay is about
        args.color_by = "absgrad" if replaying else "grad"
    output = check_writable(args.output) if args.output else None
    paths = [check_writable(p) for p in frame_paths(output, args.frames)] if args.frames is not None else [output]
    trace = trace_from_script(args) if args.script else record_from_args(args)[1]
    check_token(trace, args)
    rendered = build_view(trace, args).render()
    positions = replay_positions(trace, rendered, args)
    payloads = diagrams(trace, rendered, args, fmt, positions)
    if output is None:
        sys.stdout.write(payloads[0].decode("utf-8"))
        return 0
    for path, payload in zip(paths, payloads):
        write_atomically(path, lambda tmp, payload=payload: Path(tmp).write_bytes(payload))
    where = str(paths[0]) if len(paths) == 1 else f"{len(paths)} frames, {paths[0]} ... {paths[-1]}"
    print(f"wrote {where}: {len(rendered.nodes)} nodes, {len(rendered.edges)} edges ({fmt}, {args.theme})")
    return 0
