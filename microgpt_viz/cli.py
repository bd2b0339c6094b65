"""The `microgpt-viz` command line. Only `gui` imports Qt.

Every user error ends in one line on stderr and exit status 2, never a traceback.
"""
import argparse
import json
import os
import sys
from pathlib import Path

from core.config import PRESETS, ConfigError, preset
from core.data import DataError, load_docs, resolve_data_path

EXIT_BAD_INPUT = 2


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UserError(message)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _add_common(parser):
    parser.add_argument("--data", metavar="FILE", help="text file, one document per line (default: ./input.txt if present, else the embedded names)")
    parser.add_argument("--preset", default="original", help="original (default) or latest")
    parser.add_argument("--seed", type=int, default=None, help="RNG seed (default 42)")
    parser.add_argument("--steps", type=_positive_int, default=None, metavar="N", help="planned steps, for the learning-rate schedule")
    parser.add_argument("--n-embd", type=_positive_int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--n-head", type=_positive_int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--n-layer", type=_positive_int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--block-size", type=_positive_int, default=None, help=argparse.SUPPRESS)


def _add_step_choice(parser):
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--doc", metavar="NAME", help="record a step on this document at the initial parameters")
    which.add_argument("--at-step", type=_non_negative_int, metavar="S", help="record the step the trainer takes after S updates (default 0)")


def build_parser():
    parser = _Parser(prog="microgpt-viz", description="See every scalar of a microgpt training step.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    train = sub.add_parser("train", help="train and sample, printing exactly microgpt's lines")
    _add_common(train)
    train.add_argument("--samples", type=_non_negative_int, default=None, metavar="K", help="names to sample after training (default 20)")
    train.add_argument("--temperature", type=_positive_float, default=None, metavar="T", help="sampling temperature (default 0.5)")
    _train_run().add_arguments(train)  # --until, --save, --resume
    train.add_argument("--fast", action="store_true", help="train on the NumPy engine (core/fast.py): same losses to ~1e-12, hundreds of times faster")

    record = sub.add_parser("record", help="record one step's graph and print a summary")
    _add_common(record)
    _add_step_choice(record)
    record.add_argument("--json", action="store_true", help="print the summary as JSON")
    record.add_argument("-o", "--output", metavar="FILE.graphml", help="write the graph as GraphML")
    _script_source().add_script_arguments(record)

    for module in _command_modules():
        module.add_parser(sub, _add_common, _add_step_choice)

    gui = sub.add_parser("gui", help="open the desktop app (the default)")
    _add_common(gui)
    gui.add_argument("--screenshot", metavar="FILE.png", help="render the window offscreen after the first recorded step, save it, exit")
    gui.add_argument("--select", metavar="WHAT", help="with --screenshot: what to select first")
    return parser


def make_config(args):
    changes = {}
    for field, value in (
        ("seed", args.seed), ("num_steps", args.steps), ("n_embd", args.n_embd),
        ("n_head", args.n_head), ("n_layer", args.n_layer), ("block_size", args.block_size),
    ):
        if value is not None:
            changes[field] = value
    for field in ("samples", "temperature"):
        value = getattr(args, field, None)
        if value is not None:
            changes["num_samples" if field == "samples" else field] = value
    return preset(args.preset, **changes)


def make_trainer(args):
    from core.train import Trainer

    config = make_config(args)
    docs = load_docs(resolve_data_path(args.data))
    return Trainer(docs, config)


def check_writable(path):
    """Fail before any work is done if `path` cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"output path is a directory: {path}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"cannot write {path}: permission denied")
    return path


def write_atomically(path, write):
    """Write through a temporary file beside `path`, so a failure never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None


def _train_run():
    from microgpt_viz import train_run  # it imports this module: load it late

    return train_run


def cmd_train(args):
    run = _train_run().TrainRun(args)  # fresh, or resumed from --resume; --until and --save checked up front
    trainer = run.trainer
    print(f"num docs: {len(trainer.docs)}")
    print(f"vocab size: {trainer.tokenizer.vocab_size}")
    print(f"num params: {len(trainer.params)}")
    n = trainer.planned_steps
    if args.fast:
        _train_fast(trainer, run.stop_step)
    while trainer.step_index < run.stop_step:
        result = trainer.step()
        print(f"step {result.step + 1:4d} / {n:4d} | loss {result.loss:.4f}", flush=True)
    run.save()  # before sampling, which draws from the RNG
    for i, name in enumerate(trainer.sample()):
        print(f"sample {i + 1:2d}: {name}")
    return 0


def _train_fast(trainer, stop_step):
    """The steps up to stop_step on the fast engine, printing train's lines; the state lands in trainer."""
    from core.fast import FastTrainer

    fast, n = FastTrainer.from_trainer(trainer), trainer.planned_steps
    try:
        while fast.step_index < stop_step:
            loss = fast.step()
            print(f"step {fast.step_index:4d} / {n:4d} | loss {loss:.4f}", flush=True)
    finally:  # a diverged step keeps the ones before it, as the scalar loop does
        fast.write_back(trainer)


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


def _script_source():
    from microgpt_viz.commands import script_source  # it imports this module: load it late

    return script_source


def cmd_record(args):
    output = check_writable(args.output) if args.output else None
    if args.script:
        trace = _script_source().trace_from_script(args)
        summary = _script_source().summary_of(trace, args)
        where = f"{Path(args.script).name}, first backward() on"
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
        print(f"{where} {trace.doc!r}: {trace.positions} positions, {trace.num_nodes} nodes, {trace.num_edges} edges, loss {trace.loss:.4f}")
        if output:
            print(f"wrote {output}")
    return 0


def cmd_gui(args):
    from microgpt_viz.app import run_app  # Qt is imported here and nowhere else in the CLI

    return run_app(args)


COMMANDS = {"train": cmd_train, "record": cmd_record, "gui": cmd_gui}

# Further subcommands live one per module in microgpt_viz/commands/; each module defines
# NAME, add_parser(subparsers, add_common, add_step_choice) and run(args) -> exit status.
COMMAND_MODULES = ("gradcheck", "check", "export", "diff", "bench")


def _command_modules():
    import importlib

    return [importlib.import_module(f"microgpt_viz.commands.{name}") for name in COMMAND_MODULES]


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["gui"] + argv
    try:
        args = parser.parse_args(argv)
        if args.preset not in PRESETS:
            raise UserError(f"unknown preset {args.preset!r} (choose from {', '.join(PRESETS)})")
        if args.command in COMMANDS:
            return COMMANDS[args.command](args)
        return next(m for m in _command_modules() if m.NAME == args.command).run(args)
    except (UserError, ConfigError, DataError) as e:
        print(f"microgpt-viz: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ArithmeticError as e:  # a diverged step (core.train.NumericalError) or similar
        print(f"microgpt-viz: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("microgpt-viz: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
