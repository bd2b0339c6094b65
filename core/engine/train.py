"""Trainer: microgpt's training loop, one Adam update per call, with recording on demand."""
import gc
import math
import random
from array import array
from dataclasses import dataclass

from core.engine import scope
from core.engine.config import Config
from core.engine.data import Tokenizer
from core.engine.model import GPT, softmax, step_loss
from core.engine.snapshots import SnapshotStore


class NumericalError(ArithmeticError):
    """A step whose numbers blew up; the parameters are left as they were before it."""

    def __init__(self, step, scope_path, what):
        self.step, self.scope, self.what = step, scope_path, what
        where = f" in {scope_path}" if scope_path else ""
        super().__init__(f"step {step + 1} diverged{where}: {what}; parameters left as before the step")


class PlanFinished(RuntimeError):
    """Every planned step has run; the schedule has nothing left."""


@dataclass
class StepResult:
    step: int  # 0-based index of the step that ran
    loss: float
    trace: object = None  # a core.trace.record.Trace when the step was recorded


class Trainer:
    def __init__(self, docs, config=None):
        self.config = (config or Config()).validate()
        self.source_docs = list(docs)
        if not self.source_docs:
            raise ValueError("no documents to train on")
        self.reset()

    def reset(self):
        """Back to step 0: the same shuffle, the same initial parameters, the same RNG stream."""
        c = self.config
        self.rng = random.Random(c.seed)
        self.docs = list(self.source_docs)
        self.rng.shuffle(self.docs)
        self.tokenizer = Tokenizer(self.docs)
        self.model = GPT(c, self.tokenizer.vocab_size, self.rng)
        self.params = self.model.params
        self.adam_m = [0.0] * len(self.params)
        self.adam_v = [0.0] * len(self.params)
        self.step_index = 0  # steps taken so far = index of the next step
        self.losses = []
        self._recorded_grads = None  # what record() computed for the next step, for step() to reuse
        self.start_history()

    def start_history(self, store=None):
        """Forget the kept states and keep the current one: the earliest step a rewind can reach."""
        self.snapshots = store or getattr(self, "snapshots", None) or SnapshotStore()
        self.snapshots.clear()
        self.keep_state()

    def keep_state(self):
        return self.snapshots.keep(self.step_index, [p.data for p in self.params], self.adam_m, self.adam_v,
                                   self.rng.getstate())

    @property
    def planned_steps(self):
        return self.config.num_steps

    @property
    def finished(self):
        return self.step_index >= self.config.num_steps

    def doc_for_step(self, step):
        return self.docs[step % len(self.docs)]

    def learning_rate(self, step):
        c = self.config
        if c.schedule == "cosine":
            return c.learning_rate * 0.5 * (1 + math.cos(math.pi * step / c.num_steps))
        return c.learning_rate * (1 - step / c.num_steps)

    def step(self, record=False):
        """Take the next planned step (one Adam update); record its graph if asked."""
        if self.finished:
            raise PlanFinished(f"all {self.config.num_steps} planned steps are done; reset or plan more steps")
        s = self.step_index
        doc = self.doc_for_step(s)
        loss = None if record else self._reuse_recorded_grads(doc)
        trace = None
        if loss is None:
            loss, trace = self._forward_backward(doc, record)
        self._adam_update(s)
        self.step_index += 1
        self.losses.append(loss)
        self.snapshots.note_steps(s, 1, "scalar", self.config)
        if self.snapshots.wants(self.step_index):
            self.keep_state()
        return StepResult(s, loss, trace)

    def restore_state(self, snapshot):
        """Put a kept state back (core/engine/rewind.py retakes the steps after it)."""
        for p, value in zip(self.params, snapshot.params.tolist()):
            p.data = value
            p.grad = 0
        self.adam_m = snapshot.adam_m.tolist()
        self.adam_v = snapshot.adam_v.tolist()
        self.rng.setstate(snapshot.rng_state)
        self.step_index = snapshot.step
        self._recorded_grads = None

    def record(self, doc=None):
        """The Trace of the step about to be taken (or of `doc` at the current parameters), no update."""
        if doc is None:
            if self.finished:
                raise PlanFinished(f"all {self.config.num_steps} planned steps are done; there is no next step")
            doc = self.doc_for_step(self.step_index)
        self._recorded_grads = None
        loss, trace = self._forward_backward(doc, record=True)
        self._recorded_grads = _RecordedGrads(doc, self.model, [p.data for p in self.params], loss,
                                              array("d", [p.grad for p in self.params]))
        for p in self.params:
            p.grad = 0
        return trace

    def _reuse_recorded_grads(self, doc):
        """The loss of `doc`'s forward pass, its parameter grads put in place, if record() has just
        computed exactly them; else None (the step must run its forward and backward).

        The app records the step it shows, then Step takes that very step: the same doc at the
        same parameters would give the same numbers again, bit for bit, at the cost of a
        whole forward and backward pass. Exactly: every parameter must still hold the very
        float object the recording read (anything that writes a parameter makes a new one).
        """
        recorded, self._recorded_grads = self._recorded_grads, None
        if recorded is None or recorded.doc != doc or recorded.model is not self.model:
            return None
        if len(recorded.params_data) != len(self.params):
            return None
        if not all(p.data is data for p, data in zip(self.params, recorded.params_data)):
            return None
        for p, grad in zip(self.params, recorded.grads.tolist()):
            p.grad = grad
        return recorded.loss

    def _forward_backward(self, doc, record):
        from core.trace.record import Recorder  # only recording needs numpy and the trace columns

        tokens = self.tokenizer.encode(doc)
        s = self.step_index
        scope.reset_failure()
        recorder = Recorder(self) if record else None
        # Recording allocates a container per node and per edge; the cyclic collector would
        # rescan the whole live graph again and again, and a step's graph holds no cycles.
        gc_was_enabled = gc.isenabled()
        if recorder:
            gc.disable()
        try:
            return self._forward_backward_unguarded(doc, tokens, s, recorder)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _forward_backward_unguarded(self, doc, tokens, s, recorder):
        try:
            if recorder:
                with recorder:
                    loss, position_losses, attention = recorder.run(tokens)
            else:
                loss, position_losses = step_loss(self.model, tokens)
        except (OverflowError, ValueError, ZeroDivisionError) as e:
            self._zero_grads()
            raise NumericalError(s, scope.failed_in, _describe(e)) from None
        topo = loss.backward()
        if not (math.isfinite(loss.data) and all(math.isfinite(p.grad) for p in self.params)):
            self._zero_grads()
            where, what = self._locate_nonfinite(tokens)
            raise NumericalError(s, where, what)
        trace = None
        if recorder:
            trace = recorder.build(doc, tokens, loss, position_losses, attention, topo, s)
            recorder.made.clear()
            attention = None
        loss_value = loss.data
        del loss, position_losses
        release_gradually(topo)
        return loss_value, trace

    def _adam_update(self, s):
        c = self.config
        lr_t = self.learning_rate(s)
        b1, b2, eps = c.beta1, c.beta2, c.eps
        m, v = self.adam_m, self.adam_v
        for i, p in enumerate(self.params):
            m[i] = b1 * m[i] + (1 - b1) * p.grad
            v[i] = b2 * v[i] + (1 - b2) * p.grad**2
            m_hat = m[i] / (1 - b1 ** (s + 1))
            v_hat = v[i] / (1 - b2 ** (s + 1))
            p.data -= lr_t * m_hat / (v_hat**0.5 + eps)
            p.grad = 0

    def _zero_grads(self):
        for p in self.params:
            p.grad = 0

    def _locate_nonfinite(self, tokens):
        """Re-run the forward watching every new value; name the scope of the first non-finite one."""
        from core.engine import autograd

        made = []
        autograd.new_value_hook = lambda v: made.append((v, scope.current))
        try:
            loss, _ = step_loss(self.model, tokens)
        finally:
            autograd.new_value_hook = None
        for value, path in made:
            if not math.isfinite(value.data):
                return path, f"value became {value.data} ({value.op})"
        loss.backward()
        bad = [p for p in self.params if not math.isfinite(p.grad)]
        self._zero_grads()
        if bad:
            return "backward", f"{len(bad)} parameter gradients became non-finite"
        return None, "the loss is not finite"

    def sample(self, count=None, temperature=None, rng=None):
        """Names generated as microgpt does, drawing from the trainer's RNG unless one is given."""
        c = self.config
        count = c.num_samples if count is None else count
        temperature = c.temperature if temperature is None else temperature
        rng = rng or self.rng
        tok, model = self.tokenizer, self.model
        names = []
        for _ in range(count):
            keys, values = model.empty_cache()
            token_id = tok.bos
            sample = []
            for pos_id in range(c.block_size):
                logits = model.forward(token_id, pos_id, keys, values)
                probs = softmax([l / temperature for l in logits])
                token_id = rng.choices(range(tok.vocab_size), weights=[p.data for p in probs])[0]
                if token_id == tok.bos:
                    break
                sample.append(tok.uchars[token_id])
            names.append("".join(sample))
        return names


@dataclass(frozen=True)
class _RecordedGrads:
    doc: str
    model: object  # the GPT that computed them (a reset makes another)
    params_data: list  # the parameters' float objects as the forward pass read them
    loss: float
    grads: array  # d loss / d parameter, in the order of Trainer.params


def release_gradually(topo, chunk=4096):
    """Free a step's Values a slice at a time, consumers first, emptying `topo`.

    Dropping the loss frees the whole graph in one C-level cascade that holds the GIL for
    tens of milliseconds; a window drawing on another thread would freeze meanwhile. Cut from
    the end of the topological order, each slice frees only itself (its inputs are still held
    by the list), and the interpreter may switch threads between slices.
    """
    while topo:
        del topo[-chunk:]


def _describe(error):
    if isinstance(error, OverflowError):
        return "overflow (exp of a very large number)"
    if isinstance(error, ZeroDivisionError):
        return "division by zero"
    text = str(error)
    if "domain" in text:
        return "log of zero or of a negative number"
    return text or type(error).__name__
