"""`microgpt-viz train`: microgpt's training loop and its printed lines, with --fast, --until, --save and --resume.

With --resume every training setting comes from the checkpoint (config, parameters, Adam
moments, step, RNG, documents); options given alongside must agree with it. The state is
saved before sampling, because sampling draws from the RNG: a resumed run then samples
exactly what an uninterrupted one does.
"""
import sys

from core.engine.fast import FastTrainer

from core.engine import checkpoint
from core.engine.config import Config, preset
from core.engine.data import load_docs, resolve_data_path
from microgpt_viz.cli.args import UserError, add_common, check_writable, make_trainer, non_negative_int, positive_float, positive_int

# options that would change training, as (option, Config field)
_TRAINING_OPTIONS = (("seed", "seed"), ("steps", "num_steps"), ("n_embd", "n_embd"), ("n_head", "n_head"), ("n_layer", "n_layer"), ("block_size", "block_size"))
# fields a preset decides and no option overrides (block_size is checked with --block-size)
_PRESET_FIELDS = ("block_size", "init_std", "zero_init_out", "activation", "learning_rate", "beta1", "beta2", "eps", "schedule")
_DEFAULT_PRESET = "original"
NAME = "train"


def add_parser(subparsers):
    parser = subparsers.add_parser(NAME, help="train and sample, printing exactly microgpt's lines")
    add_common(parser)
    parser.add_argument("--samples", type=non_negative_int, default=None, metavar="K", help="names to sample after training (default 20)")
    parser.add_argument("--temperature", type=positive_float, default=None, metavar="T", help="sampling temperature (default 0.5)")
    parser.add_argument("--until", type=positive_int, default=None, metavar="S", help="stop after step S of the planned N (the schedule still follows N)")
    parser.add_argument("--save", metavar="FILE", help="write the training state (JSON) to FILE at the end, before sampling")
    parser.add_argument("--resume", metavar="FILE", help="go on from a training state written by --save")
    parser.add_argument("--fast", action="store_true", help="train on the NumPy engine (core/engine/fast.py): same losses to ~1e-12, hundreds of times faster")
    return parser


def run(args):
    training = TrainRun(args)  # fresh, or resumed from --resume; --until and --save checked up front
    trainer = training.trainer
    print(f"num docs: {len(trainer.docs)}")
    print(f"vocab size: {trainer.tokenizer.vocab_size}")
    print(f"num params: {len(trainer.params)}")
    n = trainer.planned_steps
    if args.fast:
        _train_fast(trainer, training.stop_step)
    while trainer.step_index < training.stop_step:
        result = trainer.step()
        print(f"step {result.step + 1:4d} / {n:4d} | loss {result.loss:.4f}", flush=True)
    training.save()  # before sampling, which draws from the RNG
    for i, name in enumerate(trainer.sample()):
        print(f"sample {i + 1:2d}: {name}")
    return 0


def _train_fast(trainer, stop_step):
    """The steps up to stop_step on the fast engine, printing train's lines; the state lands in trainer."""
    fast, n = FastTrainer.from_trainer(trainer), trainer.planned_steps
    try:
        while fast.step_index < stop_step:
            loss = fast.step()
            print(f"step {fast.step_index:4d} / {n:4d} | loss {loss:.4f}", flush=True)
    finally:  # a diverged step keeps the ones before it, as the scalar loop does
        fast.write_back(trainer)


class TrainRun:
    """The trainer of a `train` command, fresh or resumed, with its stop step checked up front."""

    def __init__(self, args):
        self.args = args
        if args.save:
            check_writable(args.save)  # fail before hours of training, not after
        if args.resume:
            self.trainer, self.docs_source = self._resumed()
        else:
            self.trainer = make_trainer(args)
            self.docs_source = str(resolve_data_path(args.data).resolve())
        self.stop_step = self._stop_step()
        if args.resume:  # only once everything is known to be fine: errors stay one line
            print(f"resumed from {args.resume} after step {self.trainer.step_index} of {self.trainer.planned_steps}", file=sys.stderr)

    def _resumed(self):
        args = self.args
        state = checkpoint.load(args.resume)
        saved = state.config
        for option, field in _TRAINING_OPTIONS:
            value = getattr(args, option, None)
            if value is not None and value != getattr(saved, field):
                flag = "--" + option.replace("_", "-")
                raise UserError(f"{flag} {value} disagrees with the checkpoint ({field} {getattr(saved, field)}); leave it out when resuming")
        if args.preset != _DEFAULT_PRESET:  # the default cannot be told apart from no choice
            chosen = preset(args.preset)
            fields = [f for f in _PRESET_FIELDS if not (f == "block_size" and args.block_size is not None)]
            differing = [f for f in fields if getattr(chosen, f) != getattr(saved, f)]
            if differing:
                raise UserError(f"--preset {args.preset} disagrees with the checkpoint ({', '.join(differing)} differ); leave it out when resuming")
        if args.data:
            if tuple(load_docs(args.data)) != state.docs:
                raise UserError(f"--data {args.data} is not the data the checkpoint was trained on; leave --data out to use the checkpoint's own copy of its {len(state.docs)} docs")
        defaults = Config()
        sampling = {
            "num_samples": defaults.num_samples if args.samples is None else args.samples,
            "temperature": defaults.temperature if args.temperature is None else args.temperature,
        }
        return checkpoint.restore(state, saved.with_changes(**sampling)), state.docs_source

    def _stop_step(self):
        until, n, at = self.args.until, self.trainer.planned_steps, self.trainer.step_index
        if until is None:
            return n
        if until > n:
            raise UserError(f"--until {until} is beyond the plan of {n} steps (raise --steps)")
        if until < at:
            raise UserError(f"--until {until} is before the checkpoint's step {at}")
        return until

    def save(self):
        """Write the state if --save asked for it."""
        if self.args.save:
            checkpoint.save(self.trainer, self.args.save, self.docs_source)
            print(f"saved the training state after step {self.trainer.step_index} to {self.args.save}", file=sys.stderr)
