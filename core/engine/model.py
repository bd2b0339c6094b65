"""The GPT of microgpt over scalar Values, with named scopes around every block.

The arithmetic is microgpt's, operation for operation, so graphs and floats match it bit
for bit. Scopes (`pos3/layer0/attn/head2/softmax`) name where each value is made; the
source view of the app shows this file, so it is kept as plain as the original.
"""
from core.engine.autograd import Value
from core.engine.scope import named


def linear(x, w):
    # x: [n_in], w: [n_out][n_in] -> [n_out]
    return [sum(wi * xi for wi, xi in zip(row, x)) for row in w]


def softmax(logits):
    max_val = max(val.data for val in logits)  # a plain float: shifts without a graph edge
    exps = [(val - max_val).exp() for val in logits]
    total = sum(exps)
    return [e / total for e in exps]


def rmsnorm(x):
    ms = sum(xi * xi for xi in x) / len(x)
    scale = (ms + 1e-5) ** -0.5
    return [xi * scale for xi in x]


def matrix_names(n_layer):
    """Parameter matrices in microgpt's initialisation order."""
    names = ["wte", "wpe", "lm_head"]
    for i in range(n_layer):
        names += [f"layer{i}.{m}" for m in ("attn_wq", "attn_wk", "attn_wv", "attn_wo", "mlp_fc1", "mlp_fc2")]
    return names


class GPT:
    def __init__(self, config, vocab_size, rng):
        self.config = config
        self.vocab_size = vocab_size
        c = config
        shapes = {"wte": (vocab_size, c.n_embd), "wpe": (c.block_size, c.n_embd), "lm_head": (vocab_size, c.n_embd)}
        for i in range(c.n_layer):
            for m in ("attn_wq", "attn_wk", "attn_wv", "attn_wo"):
                shapes[f"layer{i}.{m}"] = (c.n_embd, c.n_embd)
            shapes[f"layer{i}.mlp_fc1"] = (4 * c.n_embd, c.n_embd)
            shapes[f"layer{i}.mlp_fc2"] = (c.n_embd, 4 * c.n_embd)
        self.state_dict = {}
        for name in matrix_names(c.n_layer):
            zeroed = c.zero_init_out and name.endswith(("attn_wo", "mlp_fc2"))
            std = 0.0 if zeroed else c.init_std
            n_out, n_in = shapes[name]
            # every element draws from the RNG, even at std 0, so the stream stays microgpt's
            self.state_dict[name] = [[Value(rng.gauss(0, std), op="param") for _ in range(n_in)] for _ in range(n_out)]
        self.params = [p for mat in self.state_dict.values() for row in mat for p in row]

    def param_locations(self):
        """(matrix name, row, col) for each entry of self.params, in the same order."""
        return [(name, r, c) for name, mat in self.state_dict.items() for r, row in enumerate(mat) for c in range(len(row))]

    def forward(self, token_id, pos_id, keys, values, attention=None):
        """Logits for the next token. keys/values: per-layer caches the call appends to.

        attention, when given, collects attention[layer][head].append((logits, weights)).
        """
        sd, c = self.state_dict, self.config
        head_dim = c.head_dim
        with named("embed"):
            x = [t + p for t, p in zip(sd["wte"][token_id], sd["wpe"][pos_id])]
            with named("rmsnorm"):
                x = rmsnorm(x)
        for li in range(c.n_layer):
            with named(f"layer{li}"):
                with named("attn"):
                    x_residual = x
                    with named("rmsnorm"):
                        x = rmsnorm(x)
                    with named("q"):
                        q = linear(x, sd[f"layer{li}.attn_wq"])
                    with named("k"):
                        k = linear(x, sd[f"layer{li}.attn_wk"])
                    with named("v"):
                        v = linear(x, sd[f"layer{li}.attn_wv"])
                    keys[li].append(k)
                    values[li].append(v)
                    x_attn = []
                    for h in range(c.n_head):
                        with named(f"head{h}"):
                            hs = h * head_dim
                            q_h = q[hs : hs + head_dim]
                            k_h = [ki[hs : hs + head_dim] for ki in keys[li]]
                            v_h = [vi[hs : hs + head_dim] for vi in values[li]]
                            with named("logits"):
                                attn_logits = [
                                    sum(q_h[j] * k_h[t][j] for j in range(head_dim)) / head_dim**0.5
                                    for t in range(len(k_h))
                                ]
                            with named("softmax"):
                                attn_weights = softmax(attn_logits)
                            if attention is not None:
                                attention[li][h].append((attn_logits, attn_weights))
                            with named("out"):
                                head_out = [sum(attn_weights[t] * v_h[t][j] for t in range(len(v_h))) for j in range(head_dim)]
                            x_attn.extend(head_out)
                    with named("wo"):
                        x = linear(x_attn, sd[f"layer{li}.attn_wo"])
                    with named("residual"):
                        x = [a + b for a, b in zip(x, x_residual)]
                with named("mlp"):
                    x_residual = x
                    with named("rmsnorm"):
                        x = rmsnorm(x)
                    with named("fc1"):
                        x = linear(x, sd[f"layer{li}.mlp_fc1"])
                    with named(c.activation):
                        if c.activation == "relu2":
                            x = [xi.relu() ** 2 for xi in x]
                        else:
                            x = [xi.relu() for xi in x]
                    with named("fc2"):
                        x = linear(x, sd[f"layer{li}.mlp_fc2"])
                    with named("residual"):
                        x = [a + b for a, b in zip(x, x_residual)]
        with named("lm_head"):
            logits = linear(x, sd["lm_head"])
        return logits

    def empty_cache(self):
        return [[] for _ in range(self.config.n_layer)], [[] for _ in range(self.config.n_layer)]


def step_loss(model, tokens, attention=None):
    """The step's loss Value and the per-position loss Values for one tokenized doc."""
    n = min(model.config.block_size, len(tokens) - 1)
    keys, values = model.empty_cache()
    losses = []
    for pos_id in range(n):
        token_id, target_id = tokens[pos_id], tokens[pos_id + 1]
        with named(f"pos{pos_id}"):
            logits = model.forward(token_id, pos_id, keys, values, attention)
            with named("softmax"):
                probs = softmax(logits)
            with named("loss"):
                loss_t = -probs[target_id].log()
        losses.append(loss_t)
    with named("loss"):
        loss = (1 / n) * sum(losses)
    return loss, losses
