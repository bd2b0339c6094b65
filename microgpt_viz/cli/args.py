"""What every subcommand shares: the user-error type, argument types, the common options, building
the trainer, and writing output files safely. A leaf: it imports core only, never another CLI module.
"""
import argparse
import os
from pathlib import Path

from core.engine.config import preset
from core.engine.data import load_docs, resolve_data_path
from core.engine.train import Trainer

EXIT_BAD_INPUT = 2


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UserError(message)


class UnchosenPreset(str):
    """A default preset's name, told apart from the same name typed by the user
    (`parser.set_defaults(preset=UnchosenPreset("original"))`)."""


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def box_size(text):
    """WIDTHxHEIGHT, two whole numbers > 0 (e.g. 1920x1080) -> (width, height)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1920x1080, got {text!r}")
    width, height = (int(p) for p in parts)
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"width and height must be > 0, got {text!r}")
    return width, height


def add_common(parser):
    parser.add_argument("--data", metavar="FILE", help="text file, one document per line (default: ./input.txt if present, else the embedded names)")
    parser.add_argument("--preset", default="original", help="original (default) or latest")
    parser.add_argument("--seed", type=int, default=None, help="RNG seed (default 42)")
    parser.add_argument("--steps", type=positive_int, default=None, metavar="N", help="planned steps, for the learning-rate schedule")
    size = parser.add_argument_group("model size (default: the preset's 1 layer, 16 wide, 4 heads, 8 or 16 positions)")
    size.add_argument("--n-layer", type=positive_int, default=None, metavar="L", help="transformer blocks")
    size.add_argument("--n-embd", type=positive_int, default=None, metavar="D", help="width of the residual stream (a multiple of --n-head)")
    size.add_argument("--n-head", type=positive_int, default=None, metavar="H", help="attention heads per layer")
    size.add_argument("--block-size", type=positive_int, default=None, metavar="T", help="longest context: longer docs are cut to T positions")


def add_step_choice(parser):
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--doc", metavar="NAME", help="record a step on this document at the initial parameters")
    which.add_argument("--at-step", type=non_negative_int, metavar="S", help="record the step the trainer takes after S updates (default 0)")


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
    config = make_config(args)
    docs = load_docs(resolve_data_path(args.data))
    return Trainer(docs, config)


def check_writable(path, make_folder=False):
    """Fail before any work is done if `path` cannot be written; with make_folder, create its folder
    (and the folders above it) first when missing."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"output path is a directory: {path}")
    parent = path.parent if str(path.parent) else Path(".")
    if make_folder and not parent.is_dir():
        in_the_way = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None)
        if in_the_way is not None:
            raise UserError(f"cannot create the output folder {parent}: {in_the_way} is a file")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create the output folder {parent}: {e.strerror or e}") from None
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
