"""The `microgpt-viz` command line: one module per subcommand in this folder. Only `gui` imports Qt.

Every user error ends in one line on stderr and exit status 2, never a traceback.
"""
import sys

from core.engine.config import PRESETS, ConfigError
from core.engine.data import DataError
from microgpt_viz.cli import bench, check, diff, export, gradcheck, gui, record, train
from microgpt_viz.cli.args import EXIT_BAD_INPUT, Parser, UserError

# Each module defines NAME, add_parser(subparsers) and run(args) -> exit status; --help lists them in this order.
SUBCOMMANDS = (train, record, export, gradcheck, check, diff, bench, gui)


def build_parser():
    parser = Parser(prog="microgpt-viz", description="See every scalar of a microgpt training step.")
    subparsers = parser.add_subparsers(dest="command", parser_class=Parser)
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["gui"] + argv
    try:
        args = parser.parse_args(argv)
        if args.preset not in PRESETS:
            raise UserError(f"unknown preset {args.preset!r} (choose from {', '.join(PRESETS)})")
        return next(m for m in SUBCOMMANDS if m.NAME == args.command).run(args)
    except (UserError, ConfigError, DataError) as e:
        print(f"microgpt-viz: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ArithmeticError as e:  # a diverged step (core.engine.train.NumericalError) or similar
        print(f"microgpt-viz: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("microgpt-viz: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
