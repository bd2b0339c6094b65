"""`microgpt-viz gui` (also no command at all): the desktop app, or one offscreen screenshot of it.

Everything the user typed is checked here, before Qt is imported: a bad data file, preset or
--select ends in one line and exit status 2, with no window. What --select names (nodes, groups,
cells) is checked against the first recorded step before the picture is taken (app/screenshot.py):
a mistake there also ends in one line and exit status 2. The app is handed a built Trainer.
"""
import argparse
import os
import shlex

from microgpt_viz.cli.args import UnchosenPreset, UserError, add_common, check_writable, make_trainer
from microgpt_viz.cli.script_source import add_script_arguments, trace_from_script
from microgpt_viz.session.select_script import SelectError, help_text, parse

NAME = "gui"
SIZE_OPTIONS = ("n_layer", "n_embd", "n_head", "block_size")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        NAME, help="open the desktop app (the default)", epilog=help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keep the key list one per line
    )
    add_common(parser)
    parser.set_defaults(preset=UnchosenPreset("original"))  # only then does the app open on the model last chosen in it
    parser.add_argument("--screenshot", metavar="FILE.png", help="render the window offscreen after the first recorded step, save it, exit")
    parser.add_argument("--select", metavar="WHAT", help="with --screenshot: what to do before the picture (keys listed below)")
    add_script_arguments(parser)
    return parser


def run(args):
    actions = []
    if args.screenshot:
        check_writable(args.screenshot)
        try:
            actions = parse(args.select)
        except SelectError as e:
            raise UserError(str(e)) from None
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    elif args.select:
        raise UserError("--select only works with --screenshot")
    shown = None
    if args.script:  # the script runs before any window: its failure is one line (and its traceback)
        trace = trace_from_script(args, window_keeps_the_model=True)  # --data etc. set the model beside it
        which = "first backward()" if args.at_backward == 1 else f"backward() call {args.at_backward}"
        # Step in the window runs the script again, on to its next backward()
        rerun = (shlex.split(args.script_args), args.cwd, args.timeout, args.at_backward)
        shown = (args.script, trace, which, rerun)
    trainer = make_trainer(args)  # bad data or config: one line and exit 2, before any window
    model_chosen = not isinstance(args.preset, UnchosenPreset) or any(getattr(args, o) is not None for o in SIZE_OPTIONS)

    from microgpt_viz.app.launch import run_app  # Qt is imported here and nowhere else in the CLI

    return run_app(trainer, preset_name=str(args.preset), screenshot=args.screenshot, actions=actions, shown=shown,
                   saved_model=not model_chosen)
