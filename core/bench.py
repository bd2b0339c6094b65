"""The figures of `microgpt-viz bench` that need no Qt: step costs, the fast engine, memory.

Every figure is measured, never assumed; how each is taken is stated beside it, because a
ratio means little without its method:

- plain vs recorded step: Trainer.step() and Trainer.step(record=True) on the same doc and
  the same parameters (the state is put back before every step, so every timed step is
  step 0 on the first doc). A steady-state loop like the app's: the previous Trace stays
  alive until the next one replaces it. The plain step runs as microgpt does, with the
  cyclic collector on; releasing the replaced Trace is timed apart (`release_trace_s`).
- plain vs core/engine/reference.py: forward and backward of the engine and model (what
  Trainer.step runs before Adam) against reference.plain_step on the same tokens and
  parameters, alternated, the collector on for both and emptied before each; the median of
  the per-pair ratios, so drifts in machine load cancel.
- fast forward: the scalar engine's time per step over `compare_steps` steps, against
  fast_forward(trainer, compare_steps) from the same start (copying the state in and out
  included), and the largest |loss difference| between the two runs.
- record peak memory: a child process records one step of the 16-position `latest` graph;
  the figure is its peak resident set during the recording (VmHWM, reset just before) minus
  its resident set just before (VmRSS). Not ru_maxrss: a child inherits its parent's peak.
"""
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from core.engine import reference
from core.engine.config import preset
from core.engine.fast import fast_forward
from core.engine.model import step_loss
from core.engine.train import Trainer

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BenchSettings:
    repeats: int = 12  # timed steps per figure; each figure is a median
    compare_steps: int = 200  # steps both engines take for the fast-forward figures
    gui_steps: int = 50  # the Run N whose GUI stalls are measured


QUICK = BenchSettings(repeats=3, compare_steps=20, gui_steps=5)  # for tests: same keys, rougher numbers


class SavedState:
    """A Trainer's parameters, Adam moments, step and losses, to put back between timed steps."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.data = [p.data for p in trainer.params]
        self.adam_m, self.adam_v = list(trainer.adam_m), list(trainer.adam_v)
        self.step_index, self.num_losses = trainer.step_index, len(trainer.losses)

    def restore(self):
        t = self.trainer
        for p, value in zip(t.params, self.data):
            p.data = value
            p.grad = 0
        t.adam_m[:], t.adam_v[:] = self.adam_m, self.adam_v
        t.step_index = self.step_index
        del t.losses[self.num_losses :]


def step_costs(trainer, repeats):
    """plain_step_s, record_step_s, record_over_plain_step and release_trace_s (see the module doc).

    Plain and recorded steps alternate in rounds so that a change in machine load hits both.
    """
    saved = SavedState(trainer)
    plain, recorded, release = [], [], []
    rounds = max(1, (repeats + 2) // 3)
    per_round = -(-repeats // rounds)
    for _ in range(rounds):
        gc.collect()
        for _ in range(per_round):
            saved.restore()
            start = time.perf_counter()
            trainer.step()
            plain.append(time.perf_counter() - start)
        trace = None
        for k in range(per_round + 1):  # the first recorded step of a round has no previous trace
            saved.restore()
            start = time.perf_counter()
            result = trainer.step(record=True)
            took = time.perf_counter() - start
            start = time.perf_counter()
            trace = result.trace  # the previous trace is released here, as the app replaces it
            released = time.perf_counter() - start
            if k:
                recorded.append(took)
                release.append(released)
        del trace, result
    saved.restore()
    plain_s, record_s = statistics.median(plain), statistics.median(recorded)
    return {
        "plain_step_s": plain_s,
        "record_step_s": record_s,
        "record_over_plain_step": record_s / plain_s,
        "release_trace_s": statistics.median(release),
    }


def plain_over_reference(trainer, repeats):
    """Engine + model forward/backward time over reference.plain_step's, same tokens and numbers."""
    tokens = trainer.tokenizer.encode(trainer.doc_for_step(trainer.step_index))
    reference_params = reference.plain_copy(trainer.model)

    def ours():
        loss, _ = step_loss(trainer.model, tokens)
        loss.backward()

    def theirs():
        reference.plain_step(reference_params, trainer.config, tokens)

    ratios = []
    # The ratio of two ~0.1 s runs wobbles by several percent pair to pair; 21 pairs at least
    # keep the median steady to about 1%.
    for k in range(max(repeats, 21)):
        took = {}
        for name, run in ((("ours", ours), ("theirs", theirs)) if k % 2 else (("theirs", theirs), ("ours", ours))):
            gc.collect()
            start = time.perf_counter()
            run()
            took[name] = time.perf_counter() - start
        for p in trainer.params:
            p.grad = 0
        ratios.append(took["ours"] / took["theirs"])
    return statistics.median(ratios)


def fast_forward_figures(trainer, steps):
    """(speedup, max |loss difference|, scalar s/step, fast s/step) over `steps` steps from the trainer's state."""
    steps = min(steps, trainer.planned_steps - trainer.step_index)
    saved = SavedState(trainer)
    start = time.perf_counter()
    scalar_losses = [trainer.step().loss for _ in range(steps)]
    scalar_s = (time.perf_counter() - start) / steps
    fast_runs = []
    for _ in range(3):
        saved.restore()
        start = time.perf_counter()
        fast_losses = fast_forward(trainer, steps)
        fast_runs.append((time.perf_counter() - start) / steps)
    saved.restore()
    fast_s = statistics.median(fast_runs)
    max_diff = max(abs(a - b) for a, b in zip(scalar_losses, fast_losses))
    return scalar_s / fast_s, max_diff, scalar_s, fast_s


def longest_doc(trainer):
    """A document filling the trainer's whole context: the first long enough one, else names joined."""
    need = trainer.config.block_size  # positions = min(block_size, len(doc) + 1)
    for doc in trainer.docs:
        if len(doc) + 1 >= need:
            return doc
    joined = ""
    for doc in trainer.docs:
        joined += doc
        if len(joined) + 1 >= need:
            return joined
    return joined


def full_context_trace(docs):
    """The recorded step 0 of the `latest` preset on a doc filling all 16 positions (~140,000 nodes)."""
    trainer = Trainer(docs, preset("latest"))
    return trainer.record(longest_doc(trainer))


def record_peak_rss_mb(data_path):
    """Peak memory (MB) of recording the 16-position `latest` step, measured in a child process."""
    code = f"from core.bench import _peak_rss_child; _peak_rss_child({str(data_path)!r})"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise RuntimeError(f"the memory probe failed: {last[0]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["record_peak_rss_mb"]


def _proc_status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak_rss():
    # Linux: writing 5 to clear_refs resets VmHWM to the current resident set. Where that is
    # not allowed, VmHWM is the peak since start, which loading the data stays far below.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_rss_child(data_path):
    import networkx  # noqa: F401  (imported before the baseline: libraries are not the recording)

    import core.trace.record  # noqa: F401
    from core.engine.data import load_docs

    trainer = Trainer(load_docs(data_path), preset("latest"))
    doc = longest_doc(trainer)
    gc.collect()
    before = _proc_status_mb("VmRSS")
    _reset_peak_rss()
    trace = trainer.record(doc)
    peak = _proc_status_mb("VmHWM")
    print(json.dumps({"record_peak_rss_mb": peak - before, "nodes": trace.num_nodes, "positions": trace.positions}))


# ---- how cost grows with the model (`bench --size`) -------------------------------------------
#
# Peaks here are a child process's ru_maxrss, the figure /usr/bin/time reports. On Linux a
# process inherits its parent's peak across fork and exec, so the bench's own (a few hundred MB
# after its traces) would hide a smaller child's: each child is therefore started through
# /bin/sh, which forks it from a fresh small process, and reports its own ru_maxrss.

SIZE_DOC = "christopher"  # the doc of the reference figures (12 positions); another when absent
BIG_LAYERS, BIG_WIDTH = 4, 32


def size_doc(trainer):
    """SIZE_DOC when the data has it, else a doc filling the context (bench.longest_doc)."""
    if SIZE_DOC in trainer.docs:
        return SIZE_DOC
    return longest_doc(trainer)


def run_fresh(argv, cwd=None, timeout=1200, extra_env=None):
    """Run `argv` (a Python command line; PYTHONPATH includes this checkout, `extra_env` added to
    the environment) as a process whose peak memory is its own; returns the CompletedProcess."""
    import shlex

    env = dict(os.environ, **(extra_env or {}))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    # `; exit $?` keeps sh from exec-ing the command in its own place, so the command is forked
    command = shlex.join([str(a) for a in argv]) + "; exit $?"
    return subprocess.run(["/bin/sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _last_json(done, what):
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise RuntimeError(f"{what} failed: {last[0]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def record_size_figures(data_path, preset_name, n_layer, n_embd):
    """Record one step of that model in a fresh child process: {nodes, record_s, peak_mb,
    bytes_per_value} (peak: the child's ru_maxrss; bytes per Value: its growth during the
    recording over the Values recorded)."""
    code = f"from core.bench import _size_child; _size_child({str(data_path)!r}, {preset_name!r}, {n_layer}, {n_embd})"
    return _last_json(run_fresh([sys.executable, "-c", code]), "the recording child")


def _size_child(data_path, preset_name, n_layer, n_embd):
    import resource

    import core.trace.record  # noqa: F401
    from core.engine.data import load_docs

    trainer = Trainer(load_docs(data_path), preset(preset_name, n_layer=n_layer, n_embd=n_embd))
    doc = size_doc(trainer)
    gc.collect()
    before = _proc_status_mb("VmRSS")
    start = time.perf_counter()
    trace = trainer.record(doc)
    took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({
        "doc": doc, "nodes": trace.num_nodes, "record_s": took, "peak_mb": peak,
        "bytes_per_value": (peak - before) * 2**20 / trace.num_nodes,
    }))
