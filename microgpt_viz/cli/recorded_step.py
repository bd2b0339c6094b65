"""Recording the step a debugging command looks at: `--doc NAME` or `--at-step S` (default 0).

Not a subcommand itself; shared by gradcheck, check and diff.
"""
from microgpt_viz.cli.args import UserError, make_trainer


def advance_to(trainer, step):
    """Run the trainer's first `step` updates; UserError when `step` lies beyond the plan."""
    if step >= trainer.planned_steps:
        raise UserError(f"step {step} is beyond the plan: steps run from 0 to {trainer.planned_steps - 1} (raise --steps)")
    while trainer.step_index < step:
        trainer.step()
    return trainer


def record_from_args(args):
    """(trainer, trace) for the step the options choose."""
    trainer = make_trainer(args)
    if args.doc is not None:
        return trainer, trainer.record(trainer.tokenizer.check(args.doc))
    advance_to(trainer, args.at_step or 0)
    return trainer, trainer.record()
