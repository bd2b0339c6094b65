"""Fast-forward: the same model and Adam as core/engine/model.py and core/engine/train.py, in NumPy.

A step runs the whole sequence at once (a causal mask in place of microgpt's growing
key/value cache, which gives the same attention) and writes the backward pass by hand, so
a step costs a few hundred NumPy calls on tiny arrays instead of 60,000 Python Values.
The formulas are the spec's, operation for operation where it matters for rounding:
rmsnorm with 1e-5, softmax shifted by its max, `a / b` as `a * b**-1`, relu or relu**2,
Adam with bias correction and the cosine or linear schedule. Sums run in a different order
than microgpt's left-to-right Python sums, so results agree to rounding (~1e-12), not bit
for bit; tests/core/engine/test_fast.py holds them to 1e-6 against the scalar engine.

The fast engine shares its state with a core.engine.train.Trainer both ways: `from_trainer`
copies the parameters, Adam moments, step and losses out of it, `write_back` puts them
back into the very same Values and lists, so the scalar engine can record the next step.
"""
import math
import time

import numpy as np

from core.engine.model import matrix_names
from core.engine.train import NumericalError, PlanFinished


class FastTrainer:
    """Training steps in NumPy over a copy of a Trainer's state; see `fast_forward`."""

    def __init__(self, trainer):
        self.config = c = trainer.config
        self.docs = trainer.docs  # shared, never modified
        self.tokenizer = trainer.tokenizer
        self.learning_rate = trainer.learning_rate
        self.params = np.array([p.data for p in trainer.params], dtype=np.float64)
        self.adam_m = np.array(trainer.adam_m, dtype=np.float64)
        self.adam_v = np.array(trainer.adam_v, dtype=np.float64)
        self.grads = np.zeros_like(self.params)
        self.step_index = trainer.step_index
        self.first_step = trainer.step_index  # losses before it are the trainer's own
        self.losses = []  # loss of every step taken here, in order
        # Views into the flat vectors, one matrix each, in the trainer's parameter order.
        self.weights, self.weight_grads = {}, {}
        offset = 0
        for name in matrix_names(c.n_layer):
            rows = trainer.model.state_dict[name]
            shape = (len(rows), len(rows[0]))
            size = shape[0] * shape[1]
            self.weights[name] = self.params[offset : offset + size].reshape(shape)
            self.weight_grads[name] = self.grads[offset : offset + size].reshape(shape)
            offset += size
        if offset != len(self.params):
            raise ValueError("the trainer's parameters do not match its model's matrices")
        self._tokens = {}
        self._masks = {}
        self.snapshots = trainer.snapshots  # states kept every few steps, so a rewind lands near any step
        self._rng_state = trainer.rng.getstate()  # the fast engine never draws from it

    @classmethod
    def from_trainer(cls, trainer):
        return cls(trainer)

    @property
    def finished(self):
        return self.step_index >= self.config.num_steps

    def step(self):
        """Take the next planned step (one Adam update); returns its loss.

        Raises PlanFinished after the last planned step, and NumericalError, with the
        parameters left as they were, when the step's numbers blow up.
        """
        if self.finished:
            raise PlanFinished(f"all {self.config.num_steps} planned steps are done; reset or plan more steps")
        s = self.step_index
        with np.errstate(all="ignore"):  # overflow is caught below, as the scalar engine reports it
            loss = self._forward_backward(self._tokens_for_step(s))
            if not (math.isfinite(loss) and np.isfinite(self.grads).all()):
                raise NumericalError(s, None, "the loss or a gradient became non-finite (fast engine)")
            self._adam_update(s)
        self.step_index += 1
        self.losses.append(loss)
        if self.snapshots.wants(self.step_index):
            self.snapshots.keep(self.step_index, self.params, self.adam_m, self.adam_v, self._rng_state)
        return loss

    def run(self, count, progress=None, should_stop=None, progress_interval_s=0.0):
        """Take up to `count` steps; returns the losses of the steps taken.

        Stops early when the plan is finished or `should_stop()` returns true (checked
        before every step). `progress(done, count, loss)` is called after every step, or
        at most every `progress_interval_s` seconds (and after the last step) if given.
        """
        losses = []
        last_report, reported = time.monotonic(), True
        for _ in range(count):
            if self.finished or (should_stop is not None and should_stop()):
                break
            losses.append(self.step())
            reported = False
            if progress is not None and time.monotonic() - last_report >= progress_interval_s:
                progress(len(losses), count, losses[-1])
                last_report, reported = time.monotonic(), True
        if progress is not None and not reported:
            progress(len(losses), count, losses[-1])
        return losses

    def write_back(self, trainer):
        """Put parameters, Adam moments, step and losses into `trainer` (the one copied from)."""
        if trainer.step_index != self.first_step or len(trainer.params) != len(self.params):
            raise ValueError("write_back needs the trainer this state was copied from, unchanged since")
        for p, value in zip(trainer.params, self.params.tolist()):
            p.data = value
            p.grad = 0
        trainer.adam_m[:] = self.adam_m.tolist()
        trainer.adam_v[:] = self.adam_v.tolist()
        trainer.losses.extend(self.losses)
        trainer.snapshots.note_steps(self.first_step, self.step_index - self.first_step, "fast", self.config)
        trainer.step_index = self.step_index
        self.first_step, self.losses = self.step_index, []

    # ---- the step ---------------------------------------------------------------------

    def _tokens_for_step(self, s):
        doc = self.docs[s % len(self.docs)]
        tokens = self._tokens.get(doc)
        if tokens is None:
            tokens = self._tokens[doc] = np.array(self.tokenizer.encode(doc), dtype=np.intp)
        return tokens

    def _causal_mask(self, n):
        mask = self._masks.get(n)
        if mask is None:
            mask = self._masks[n] = np.triu(np.ones((n, n), dtype=bool), k=1)  # True above the diagonal
        return mask

    def _forward_backward(self, tokens):
        """The step's loss; its gradient lands in self.grads."""
        c, w, g = self.config, self.weights, self.weight_grads
        n = min(c.block_size, len(tokens) - 1)
        inputs, targets = tokens[:n], tokens[1 : n + 1]
        n_head, head_dim = c.n_head, c.head_dim
        scale = (head_dim**0.5) ** -1  # the model divides by head_dim**0.5: a * b**-1
        mask = self._causal_mask(n)
        self.grads.fill(0.0)

        x_embed = w["wte"][inputs] + w["wpe"][:n]
        x, embed_norm = _rmsnorm(x_embed)
        saved = []
        for li in range(c.n_layer):
            p = f"layer{li}."
            x_attn_in = x
            xn, attn_norm = _rmsnorm(x)
            q, k, v = (_split_heads(xn @ w[p + m].T, n_head, head_dim) for m in ("attn_wq", "attn_wk", "attn_wv"))
            logits = (q @ k.transpose(0, 2, 1)) * scale  # (head, query, key)
            logits[:, mask] = -np.inf
            weights = _softmax(logits)
            heads = _merge_heads(weights @ v)
            x = heads @ w[p + "attn_wo"].T + x_attn_in
            x_mlp_in = x
            xm, mlp_norm = _rmsnorm(x)
            hidden = xm @ w[p + "mlp_fc1"].T
            active = np.maximum(hidden, 0.0)
            if c.activation == "relu2":
                active = active**2
            x = active @ w[p + "mlp_fc2"].T + x_mlp_in
            saved.append((x_attn_in, xn, attn_norm, q, k, v, weights, heads, x_mlp_in, xm, mlp_norm, hidden, active))
        logits = x @ w["lm_head"].T
        probs = _softmax(logits)
        position_losses = -np.log(probs[np.arange(n), targets])
        loss = (1 / n) * float(sum(position_losses.tolist()))  # the spec's (1/n) * sum(losses)

        # backward: d loss / d logits of position t is (probs_t - onehot(target_t)) / n
        d_logits = probs
        d_logits[np.arange(n), targets] -= 1.0
        d_logits *= 1 / n
        g["lm_head"] += d_logits.T @ x
        dx = d_logits @ w["lm_head"]
        for li in reversed(range(c.n_layer)):
            p = f"layer{li}."
            x_attn_in, xn, attn_norm, q, k, v, weights, heads, x_mlp_in, xm, mlp_norm, hidden, active = saved[li]
            # mlp: x = fc2(act(fc1(rmsnorm(x_mlp_in)))) + x_mlp_in
            g[p + "mlp_fc2"] += dx.T @ active
            d_active = dx @ w[p + "mlp_fc2"]
            if c.activation == "relu2":
                d_hidden = d_active * 2.0 * np.maximum(hidden, 0.0)
            else:
                d_hidden = d_active * (hidden > 0)
            g[p + "mlp_fc1"] += d_hidden.T @ xm
            dx = dx + _rmsnorm_backward(d_hidden @ w[p + "mlp_fc1"], x_mlp_in, mlp_norm)
            # attention: x = wo(heads) + x_attn_in
            g[p + "attn_wo"] += dx.T @ heads
            d_heads = _split_heads(dx @ w[p + "attn_wo"], n_head, head_dim)
            d_weights = d_heads @ v.transpose(0, 2, 1)
            d_v = weights.transpose(0, 2, 1) @ d_heads
            d_logits = weights * (d_weights - (d_weights * weights).sum(axis=-1, keepdims=True))
            d_logits *= scale
            d_q = d_logits @ k
            d_k = d_logits.transpose(0, 2, 1) @ q
            d_xn = 0.0
            for m, d in (("attn_wq", d_q), ("attn_wk", d_k), ("attn_wv", d_v)):
                d = _merge_heads(d)
                g[p + m] += d.T @ xn
                d_xn = d_xn + d @ w[p + m]
            dx = dx + _rmsnorm_backward(d_xn, x_attn_in, attn_norm)
        d_embed = _rmsnorm_backward(dx, x_embed, embed_norm)
        np.add.at(g["wte"], inputs, d_embed)  # a token seen twice gathers both gradients
        g["wpe"][:n] += d_embed
        return loss

    def _adam_update(self, s):
        c = self.config
        lr_t = self.learning_rate(s)
        b1, b2 = c.beta1, c.beta2
        grads, m, v = self.grads, self.adam_m, self.adam_v
        m *= b1
        m += (1 - b1) * grads
        v *= b2
        v += (1 - b2) * grads**2
        m_hat = m / (1 - b1 ** (s + 1))
        v_hat = v / (1 - b2 ** (s + 1))
        self.params -= lr_t * m_hat / (v_hat**0.5 + c.eps)


def _rmsnorm(x):
    """(x * scale, scale) per row, scale = (mean(x**2) + 1e-5) ** -0.5."""
    mean_square = (x * x).sum(axis=-1, keepdims=True) * (x.shape[-1] ** -1)
    scale = (mean_square + 1e-5) ** -0.5
    return x * scale, scale


def _rmsnorm_backward(dy, x, scale):
    # y = x * s(x), ds/dx_i = -s**3 * x_i / n
    n = x.shape[-1]
    return scale * dy - (scale**3 / n) * x * (dy * x).sum(axis=-1, keepdims=True)


def _softmax(logits):
    exps = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exps * exps.sum(axis=-1, keepdims=True) ** -1


def _split_heads(x, n_head, head_dim):
    # (position, n_embd) -> (head, position, head_dim)
    return x.reshape(x.shape[0], n_head, head_dim).transpose(1, 0, 2)


def _merge_heads(x):
    # (head, position, head_dim) -> (position, n_embd)
    return x.transpose(1, 0, 2).reshape(x.shape[1], -1)


def fast_forward(trainer, count, progress=None, should_stop=None, progress_interval_s=0.0):
    """Take up to `count` training steps on the fast engine, then write them into `trainer`.

    Returns the losses of the steps taken (fewer than `count` if the plan ends or
    `should_stop()` says so). If a step diverges, the steps before it are written back and
    the NumericalError is raised, the parameters left as they were before the failed step.
    """
    fast = FastTrainer.from_trainer(trainer)
    losses = []
    try:
        losses = fast.run(count, progress, should_stop, progress_interval_s)
    finally:
        fast.write_back(trainer)
    return losses
