"""`microgpt-viz export`: a Graphviz diagram of a view of one recorded step (DOT, SVG, PDF, PNG).

With --backward-step K it shows the grads as backward has left them after visiting K nodes
(core/debug/replay.py); --frames N writes N such diagrams, evenly spaced from the start of backward
to its end, for a slide deck that shows gradient flow frame by frame, or one animated GIF of them.
--fit WxH scales the picture into a box (the slides theme: 1920x1080, and of top-to-bottom and
left-to-right the direction that fills it better).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from core.views.export import FORMATS, MAX_NODES, ViewTooLarge, fit_factor, measure, render_diagram, to_dot
from core.views.export_replay import animated_gif, replay_sources
from core.views.export_style import THEME_NAMES, theme
from core.views.layout import GraphvizFailed, GraphvizNotFound
from core.debug.replay import replay_of
from core.views.view import LEVELS, View
from core.engine.data import quoted
from microgpt_viz.cli.args import (
    UserError, add_common, add_step_choice, box_size, check_writable, non_negative_int, write_atomically,
)
from microgpt_viz.cli.recorded_step import record_from_args
from microgpt_viz.cli.script_source import add_script_arguments, script_step_name, trace_from_script

NAME = "export"
SUFFIXES = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".pdf": "pdf", ".png": "png", ".gif": "gif"}
OUTPUT_FORMATS = (*FORMATS, "gif")  # a GIF is drawn as PNG, then animated when there are frames
MIN_TEXT_PX = 12  # smaller text is hard to read on a slide or a screen


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
    parser.add_argument("--format", choices=OUTPUT_FORMATS, help="output format (default: from the suffix of -o, else dot); gif: with --frames, one animated GIF")
    parser.add_argument("--theme", choices=THEME_NAMES, default="light", help="light (default), dark or slides")
    parser.add_argument("--rankdir", choices=("LR", "TB"), default=None, help="TB top to bottom (default) or LR left to right; the slides theme picks the one that fills 16:9 better")
    parser.add_argument("--fit", type=box_size, metavar="WxH", help="scale the whole picture into W x H (pixels; points for PDF), keeping its aspect, e.g. 1920x1080; the slides theme's default")
    parser.add_argument("--color-by", choices=("data", "grad", "absgrad", "none"), default=None, help="fill colour: grad (default), data, absgrad (the default with --backward-step/--frames: groups show how much gradient has reached them) or none")
    parser.add_argument("-o", "--output", metavar="FILE", help="where to write (default: DOT on stdout)")
    replay = parser.add_mutually_exclusive_group()
    replay.add_argument("--backward-step", type=non_negative_int, metavar="K", help="show the grads as they stand after backward has visited K nodes (0: only the loss has its grad of 1; the step's node count: backward done)")
    replay.add_argument("--frames", type=_frame_count, metavar="N", help="write N frames evenly spaced over backward, from K=0 to done, as FILE-000.EXT ... (needs -o), or with -o FILE.gif one animated GIF; the same layout and colour scale in every frame")
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
        where = script_step_name(args) + (f" on {quoted(trace.doc)}" if trace.doc else "")
    else:
        where = f"step {trace.step}, {quoted(trace.doc)}"
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
        raise UserError(f"--token {args.token} is out of range: {quoted(trace.doc)} has positions 0 to {trace.positions - 1}")


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


def fit_of(args, fmt):
    """The (width, height) box to scale the picture into, or None: --fit, else the theme's own."""
    if fmt == "dot":
        if args.fit is not None:
            raise UserError("--fit applies to drawn formats (svg, pdf, png, gif), not dot")
        return None
    return args.fit or theme(args.theme).fit


def choose_rankdir(rendered, args, title, fit):
    """--rankdir when given; with a box to fit and the slides theme, whichever of TB and LR comes
    out with the larger text in it (a wide drawing in a 16:9 box); else TB."""
    if args.rankdir is not None or fit is None or args.theme != "slides":
        return args.rankdir or "TB"
    factors = {}
    for rankdir in ("TB", "LR"):
        natural, _ = measure(to_dot(rendered, args.theme, rankdir, args.color_by, title=title, max_nodes=MAX_NODES))
        factors[rankdir] = fit_factor(natural, fit)
    return max(factors, key=factors.get)  # TB on a tie


def warn_if_text_is_small(source, fit):
    natural, smallest = measure(source)
    shown = smallest * fit_factor(natural, fit)
    if shown < MIN_TEXT_PX:
        print(
            f"microgpt-viz: warning: fitted to {fit[0]}x{fit[1]}, the smallest text is {shown:.1f} px high "
            f"(under {MIN_TEXT_PX} px); for a readable picture choose a coarser --level or a smaller --scope",
            file=sys.stderr,
        )


def diagrams(trace, rendered, args, fmt, positions):
    """The bytes of each file to write: one diagram, one per backward position, or one animated GIF."""
    title = title_of(trace, args)
    try:
        fit = fit_of(args, fmt)
        rankdir = choose_rankdir(rendered, args, title, fit)
        if positions:
            sources = replay_sources(rendered, trace, positions, args.theme, rankdir, args.color_by, title, MAX_NODES)
        else:
            sources = [to_dot(rendered, args.theme, rankdir, args.color_by, title=title, max_nodes=MAX_NODES)]
        if fit is not None:
            warn_if_text_is_small(sources[0], fit)  # frames share one layout
        if fmt == "gif":
            pngs = [render_diagram(source, "png", fit) for source in sources]
            return [animated_gif(pngs, theme(args.theme).background)]
        return [render_diagram(source, fmt, fit) for source in sources]
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
    output = check_writable(args.output, make_folder=True) if args.output else None
    one_file = args.frames is None or fmt == "gif"
    paths = [output] if one_file else [check_writable(p) for p in frame_paths(output, args.frames)]
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
    if len(paths) > 1:
        where = f"{len(paths)} frames, {paths[0]} ... {paths[-1]}"
    elif args.frames is not None:
        where = f"{paths[0]} ({args.frames} frames)"
    else:
        where = str(paths[0])
    print(f"wrote {where}: {len(rendered.nodes)} nodes, {len(rendered.edges)} edges ({fmt}, {args.theme})")
    return 0
