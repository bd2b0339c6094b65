"""Model and training configuration, with microgpt's two presets."""
from dataclasses import dataclass, fields, replace

ACTIVATIONS = ("relu2", "relu")
SCHEDULES = ("cosine", "linear")


class ConfigError(ValueError):
    """A configuration that cannot describe a model."""


@dataclass(frozen=True)
class Config:
    n_embd: int = 16  # width of the residual stream
    n_head: int = 4  # attention heads per layer; head_dim = n_embd // n_head
    n_layer: int = 1  # transformer blocks
    block_size: int = 8  # longest context; a step sees at most this many positions
    init_std: float = 0.02  # std of the gaussian every matrix is drawn from
    zero_init_out: bool = True  # attn_wo and mlp_fc2 drawn with std 0 (still consuming the RNG)
    activation: str = "relu2"  # MLP nonlinearity: relu(x)**2 ("relu2") or relu(x)
    learning_rate: float = 0.01  # Adam step size before the schedule
    beta1: float = 0.9  # Adam first-moment decay
    beta2: float = 0.95  # Adam second-moment decay
    eps: float = 1e-8  # Adam denominator guard
    schedule: str = "cosine"  # lr at step s of N: cosine = lr*0.5*(1+cos(pi*s/N)), linear = lr*(1-s/N)
    num_steps: int = 500  # planned steps N; the schedule needs it before step 0
    seed: int = 42  # seeds the one RNG behind shuffling, init and sampling
    temperature: float = 0.5  # sampling temperature
    num_samples: int = 20  # names sampled after training

    @property
    def head_dim(self):
        return self.n_embd // self.n_head

    def validate(self):
        """Raise ConfigError with a one-line reason if this config cannot work."""
        for name in ("n_embd", "n_head", "n_layer", "block_size", "num_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not self.init_std >= 0:
            raise ConfigError(f"init_std must be >= 0, got {self.init_std!r}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError("Adam betas must lie in [0, 1)")
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature!r}")
        if not isinstance(self.num_samples, int) or self.num_samples < 0:
            raise ConfigError(f"num_samples must be a non-negative integer, got {self.num_samples!r}")
        return self

    def with_changes(self, **changes):
        """A validated copy with some fields replaced."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        return replace(self, **changes).validate()


PRESETS = {
    # the version described in microgpt's design notes
    "original": Config(),
    # the version most people download today
    "latest": Config(
        block_size=16,
        init_std=0.08,
        zero_init_out=False,
        activation="relu",
        beta1=0.85,
        beta2=0.99,
        schedule="linear",
        num_steps=1000,
    ),
}


def preset(name, **changes):
    """The named preset, optionally with fields changed; ConfigError for unknown names."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[name].with_changes(**changes)
