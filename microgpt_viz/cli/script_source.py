"""`--script PATH`: take the step from the user's own microgpt script instead of the built-in model.

Not a subcommand itself; `record` and `export` take these options. The script is the user's
own code and runs as such (core/script/run.py): `python PATH ARGS` in its own folder, stopped
at its K-th backward() (--at-backward, the first by default).
"""
import shlex
from pathlib import Path

from core.script.run import DEFAULT_TIMEOUT, ScriptError, record_script
from microgpt_viz.cli.args import UserError, positive_float, positive_int

OUTPUT_TAIL_LINES = 10  # of a script that exited on its own: its last words usually say why

# Options of the built-in model that mean nothing for a script, which reads its own data.
BUILT_IN_ONLY = (("data", "--data"), ("doc", "--doc"), ("at_step", "--at-step"), ("seed", "--seed"), ("steps", "--steps"),
                 ("n_layer", "--n-layer"), ("n_embd", "--n-embd"), ("n_head", "--n-head"), ("block_size", "--block-size"))


def add_script_arguments(parser):
    group = parser.add_argument_group("your own script (run as your own code, unmodified)")
    group.add_argument("--script", metavar="PATH", help="run your own microgpt script up to a backward() call and take that step's graph")
    group.add_argument("--at-backward", type=positive_int, default=1, metavar="K",
                       help="take the graph of the script's K-th backward() call (default 1, the first); the calls before it run unrecorded")
    group.add_argument("--script-args", metavar="ARGS", default="", help="the script's own arguments, as one quoted string")
    group.add_argument("--cwd", metavar="DIR", help="the script's working directory (default: the script's folder)")
    group.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                       help=f"stop the script if it has not reached that backward() after this long (default {DEFAULT_TIMEOUT:g})")


def trace_from_script(args, window_keeps_the_model=False):
    """The Trace of the script's --at-backward-th backward(); UserError (with the script's own traceback, if any) otherwise.

    window_keeps_the_model: the app holds the built-in model beside the script (Back to training,
    Pin microgpt as A), so the built-in model's options mean something there.
    """
    for attr, option in BUILT_IN_ONLY:
        if not window_keeps_the_model and getattr(args, attr, None) is not None:
            raise UserError(f"{option} does not apply to --script (the script reads its own data); pass the script's own arguments with --script-args")
    try:
        script_args = shlex.split(args.script_args)
    except ValueError as e:
        raise UserError(f"cannot split --script-args: {e}") from None
    try:
        return record_script(args.script, script_args, cwd=args.cwd, timeout=args.timeout, at_backward=args.at_backward)
    except ScriptError as e:
        raise UserError(_message(e)) from None


def _message(error):
    if error.script_traceback:
        return f"{error} (what follows is the script's own traceback)\n{error.script_traceback.rstrip()}"
    tail = error.output.rstrip().splitlines()[-OUTPUT_TAIL_LINES:]
    if error.kind == "exited" and tail:
        return f"{error} (what follows is the script's own last output)\n" + "\n".join(tail)
    return str(error)


def script_step_name(args):
    """How output names the script's recorded step: 'microgpt.py, first backward()' or 'microgpt.py, backward() call 5'."""
    call = "first backward()" if args.at_backward == 1 else f"backward() call {args.at_backward}"
    return f"{Path(args.script).name}, {call}"


def summary_of(trace, args):
    """record's JSON summary of a script's step: the usual fields plus the script's path."""
    summary = trace.summary()
    summary["script"] = args.script
    summary["at_backward"] = args.at_backward
    return summary
