"""Advancing the trainer a few steps and handing back plain snapshots. No Qt here.

The training worker thread calls these; tests call them directly. What comes back is made
of floats, strings and frozen Traces, never live Values, so the GUI can keep it while the
trainer moves on.

Runs of many updates go through the NumPy fast-forward engine (core/engine/fast.py, a few hundred
times faster), which writes its parameters and Adam moments back into the Trainer; the
step after them is always recorded on the scalar engine, so what the graph shows is
microgpt's own arithmetic.
"""
import random
import traceback
from dataclasses import dataclass, field

from core.engine.rewind import rewind as rewind_trainer
from core.trace.index import index_of
from core.views import view as views
from microgpt_viz.session import overview_positions, trace_memory


@dataclass
class Advance:
    losses: list = field(default_factory=list)  # loss of each update that ran, in order
    trace: object = None  # the recorded next step (core.trace.record.Trace), None if not recorded
    stopped_early: bool = False  # a stop request ended the run before all steps ran
    step_index: int = 0  # trainer.step_index after the run: updates taken so far
    error: str = None  # why the run stopped early (a diverged step, a finished plan), else None
    engine: str = "scalar"  # which engine took the updates: "scalar" (core/engine/train.py) or "fast" (core/engine/fast.py)
    planned_steps: int = 0  # the run's length (trainer.planned_steps)
    diverged_at: int = None  # the step whose numbers blew up (NumericalError.step), if that ended the run
    details: str = None  # the traceback of an unexpected failure, for a message box's details


def step_words(step_index, planned):
    """How the app names a step: its index from 0 (the updates done before it), as `record` and
    `export` do, with the run's length said apart so that "of" never suggests counting from 1."""
    return f"step {step_index} · {planned} steps in the run"


REPORT_INTERVAL_S = 0.05  # the fast engine reports its losses at most this often (the GUI redraws per report)


def record_next(trainer, positions=()):
    """The Trace of the step the trainer takes next, with its search index built.

    None when the plan is finished. The index (numpy tables over the graph) is built here,
    off the GUI thread, because building it for 70k nodes takes most of a second.
    `positions`: token positions whose loss cones the GUI will show (see built_quietly).
    """
    if trainer.finished:
        return None
    return built_quietly(trainer.record, positions)


def built_quietly(make_trace, positions=()):
    """make_trace() -> Trace, indexed and laid out for the overview, made quietly
    (trace_memory.made_quietly: the cyclic collector paused throughout, then everything frozen).

    The collector's first pass after building would walk every container made since its last
    pass (600,000 for a step: ~0.1 s holding the GIL, a frozen window); by the time it runs
    again, they are all where it never looks.
    The loss cones of `positions` (the token the window shows) are found here too: ~70 ms each
    on a million-Value step, which the GUI thread would otherwise spend taking the step in.
    """
    def build():
        trace = make_trace()
        index_of(trace)
        views.prepare(trace, positions)
        overview_positions.dots(trace)  # what the overview will draw, ready before the GUI asks
        return trace

    return trace_memory.made_quietly(build)


def fast_engine_problem(trainer):
    """Why the fast engine cannot take this trainer's steps, or None when it can."""
    try:
        from core.engine.fast import FastTrainer

        FastTrainer.from_trainer(trainer)
    except (ImportError, ValueError, KeyError) as e:
        return f"{type(e).__name__}: {e}"
    return None


def advance(trainer, count, should_stop=lambda: False, on_step=lambda done, loss: None, record=True,
            fast=False, on_losses=lambda done, losses: None, positions=()):
    """Take up to `count` updates, checking `should_stop` between them, then record the next step.

    fast=True takes the updates on the NumPy engine (falling back to the scalar one if it
    cannot run this model); the recording is always the scalar engine's.
    `on_step(done, loss)` is called after each update, `on_losses(done, losses)` with the
    losses since its last call: after every scalar update, at most every REPORT_INTERVAL_S
    on the fast engine (and once at the end). A step that diverges (NumericalError) or a
    finished plan ends the run with `error` set; the trainer keeps the updates before it and
    leaves its parameters as they were before the failed one. `positions`: see built_quietly.
    """
    result = Advance()
    if fast and count > 0 and fast_engine_problem(trainer) is None:
        _fast_updates(trainer, count, should_stop, on_step, on_losses, result)
    else:
        _scalar_updates(trainer, count, should_stop, on_step, on_losses, result)
    _record_after(trainer, result, record, positions)
    return result


def _record_after(trainer, result, record=True, positions=()):
    result.step_index, result.planned_steps = trainer.step_index, trainer.planned_steps
    if record:
        try:
            result.trace = record_next(trainer, positions)
        except Exception as e:  # noqa: BLE001 - the updates taken stand; the GUI must hear of them either way
            if result.error is None:
                _failed(result, e)


def _failed(result, error):
    """Say why the run stopped: a diverged step by its number, anything else with its traceback."""
    result.error = str(error) or type(error).__name__
    diverged_at = getattr(error, "step", None)  # core.engine.train.NumericalError
    if isinstance(error, ArithmeticError) and isinstance(diverged_at, int):
        result.diverged_at = diverged_at
        where = f" in {error.scope}" if getattr(error, "scope", None) else ""
        # core's message counts from 1 (as `train` prints); the app names steps by their index from 0
        result.error = f"step {diverged_at} diverged{where}: {error.what}; its update was not applied"
    elif not isinstance(error, ArithmeticError):
        result.error = f"{type(error).__name__}: {result.error}"
        result.details = "".join(traceback.format_exception(error))


def rewind(trainer, step):
    """Back to the state before `step` (core.engine.rewind), then record that step.

    The Advance holds the trainer's whole loss history afterwards, so the GUI takes it as the
    truth whether the rewind worked or, with `error` set, stopped short.
    """
    result = Advance()
    try:
        trace_memory.collector_paused(lambda: rewind_trainer(trainer, step))
    except Exception as e:  # noqa: BLE001 - a RewindError says why in one line; anything else gets its traceback
        _failed(result, e)
        if isinstance(e, ValueError):
            result.details = None
    result.losses = list(trainer.losses)
    _record_after(trainer, result)
    return result


def _finished_text(trainer):
    return f"all {trainer.planned_steps} planned steps are done; reset or plan more steps (--steps)"


def _scalar_updates(trainer, count, should_stop, on_step, on_losses, result):
    for _ in range(count):
        if should_stop():
            result.stopped_early = True
            break
        if trainer.finished:
            result.error = _finished_text(trainer)
            break
        try:
            step = trace_memory.collector_paused(trainer.step)
        except Exception as e:  # noqa: BLE001 - a step that fails changes nothing; the ones before it stand
            _failed(result, e)
            break
        result.losses.append(step.loss)
        on_step(len(result.losses), step.loss)
        on_losses(len(result.losses), [step.loss])


def _fast_updates(trainer, count, should_stop, on_step, on_losses, result):
    from core.engine.fast import FastTrainer

    result.engine = "fast"
    fast = FastTrainer.from_trainer(trainer)

    def report(*_):  # fast.run's progress(done, count, loss): hand over every loss not handed over yet
        new = fast.losses[len(result.losses):]
        if not new:
            return
        for loss in new:
            result.losses.append(loss)
            on_step(len(result.losses), loss)
        on_losses(len(result.losses), list(new))

    try:
        fast.run(count, report, should_stop, progress_interval_s=REPORT_INTERVAL_S)
    except Exception as e:  # noqa: BLE001 - a diverged (or failed) step: the ones before it stand
        _failed(result, e)
    finally:
        report()
        fast.write_back(trainer)
    if result.error is None and len(result.losses) < count:
        if trainer.finished:
            result.error = _finished_text(trainer)
        else:
            result.stopped_early = True


def sample_names(trainer, count=10, temperature=None):
    """Names the model generates now, from an RNG of their own.

    The trainer's RNG is left alone so that sampling in the app never changes what
    training does next.
    """
    rng = random.Random(trainer.config.seed * 1_000_003 + trainer.step_index)
    return trace_memory.collector_paused(lambda: trainer.sample(count, temperature, rng=rng))
