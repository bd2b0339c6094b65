"""Training state on disk: save, check and restore everything a Trainer needs to go on bit for bit.

The file is plain JSON, readable in any editor: the config, the step, the loss history, each
parameter matrix and its two Adam moments as nested lists, the RNG state (random.getstate())
and the documents themselves, so a checkpoint resumes without the original data file.
Python writes floats in their shortest exact form, so every number round-trips exactly.
A SHA-256 of the content guards against corruption; nothing is ever unpickled.

Loading validates the whole file before anything is built, and restoring makes a new
Trainer, so a bad file changes nothing: the caller keeps the state it had.
"""
import hashlib
import json
import math
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from core.engine.config import Config, ConfigError
from core.engine.data import DataError
from core.engine.model import matrix_names

FORMAT = "microgpt-viz training state"
VERSION = 1
_MT_WORDS = 625  # Mersenne Twister state: 624 words and a position
MAX_BYTES = 256 * 2**20  # a 4-layer, 64-wide model's state with names.txt is about 10 MB
MAX_DEPTH = 8  # the format nests 5 deep (document, body, parameters, matrix, row)
DOCUMENT_KEYS = {"format", "version", "checksum", "body"}
BODY_KEYS = {"config", "step", "losses", "parameters", "adam_m", "adam_v", "rng_state", "docs"}
DOCS_KEYS = {"source", "count", "sha256", "lines"}
RNG_KEYS = {"version", "words", "gauss_next"}
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


class CheckpointError(DataError):
    """A checkpoint that cannot be written, read or used, with a one-line reason."""


@dataclass(frozen=True)
class TrainingState:
    config: Config  # the run's config, num_steps included (the schedule depends on it)
    step: int  # updates taken so far = index of the next step
    losses: tuple  # loss of every step taken, in order
    params: dict  # matrix name -> rows of floats, in microgpt's initialisation order
    adam_m: dict  # matrix name -> rows of Adam first moments
    adam_v: dict  # matrix name -> rows of Adam second moments
    rng_state: tuple  # random.Random.getstate() after the last step (shuffle, init, sampling draw from it)
    docs: tuple  # the documents as read, before the shuffle
    docs_source: str  # where the documents came from (informational)


def capture(trainer, docs_source=""):
    """The TrainingState of a Trainer between steps."""
    names = list(trainer.model.state_dict)
    flat_m, flat_v = iter(trainer.adam_m), iter(trainer.adam_v)
    params, adam_m, adam_v = {}, {}, {}
    for name in names:
        matrix = trainer.model.state_dict[name]
        params[name] = [[float(p.data) for p in row] for row in matrix]
        adam_m[name] = [[float(next(flat_m)) for _ in row] for row in matrix]
        adam_v[name] = [[float(next(flat_v)) for _ in row] for row in matrix]
    return TrainingState(
        config=trainer.config,
        step=trainer.step_index,
        losses=tuple(float(x) for x in trainer.losses),
        params=params,
        adam_m=adam_m,
        adam_v=adam_v,
        rng_state=trainer.rng.getstate(),
        docs=tuple(trainer.source_docs),
        docs_source=str(docs_source or ""),
    )


def _body(state):
    version, words, gauss_next = state.rng_state
    return {
        "config": asdict(state.config),
        "step": state.step,
        "losses": list(state.losses),
        "parameters": state.params,
        "adam_m": state.adam_m,
        "adam_v": state.adam_v,
        "rng_state": {"version": version, "words": list(words), "gauss_next": gauss_next},
        "docs": {"source": state.docs_source, "count": len(state.docs), "sha256": docs_digest(state.docs), "lines": list(state.docs)},
    }


def _digest(body):
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def docs_digest(docs):
    return hashlib.sha256("\n".join(docs).encode()).hexdigest()


def save(trainer, path, docs_source=""):
    """Write the trainer's state to `path` through a temporary file, so a failure leaves no half file."""
    path = Path(path)
    body = _body(capture(trainer, docs_source))
    try:
        document = {"format": FORMAT, "version": VERSION, "checksum": _digest(body), "body": body}
        text = json.dumps(document, indent=1, allow_nan=False) + "\n"
    except ValueError:
        raise CheckpointError("cannot save the training state: it holds NaN or infinite numbers") from None
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def load(path):
    """Read and fully validate a checkpoint; CheckpointError with a one-line reason otherwise."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES and path.is_file():
            raise CheckpointError(f"{path} is too big to be a training state: {size / 2**20:,.0f} MB (the limit is {MAX_BYTES // 2**20} MB)")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint path is a directory: {path}") from None
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror or e}") from None
    depth = _nesting_depth(raw)
    if depth > MAX_DEPTH:
        raise CheckpointError(f"{path} is not a training state: its JSON nests {depth} levels deep (the format has {MAX_DEPTH} at most)")
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as e:
        where = f" (line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
        raise CheckpointError(f"{path} is not a readable training state: truncated or not JSON{where}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a microgpt-viz training state")
    if set(document) != DOCUMENT_KEYS:
        raise CheckpointError(f"{path} holds keys a training state does not have: {_unknown(document, DOCUMENT_KEYS)}")
    if document.get("version") != VERSION:
        raise CheckpointError(f"{path} has format version {document.get('version')!r}; this microgpt-viz reads version {VERSION}")
    body = document.get("body")
    if not isinstance(body, dict) or document.get("checksum") != _safe_digest(body):
        raise CheckpointError(f"{path} is corrupt: its checksum does not match its contents")
    try:
        return _state_from_body(body)
    except (KeyError, TypeError, ValueError, ConfigError) as e:
        raise CheckpointError(f"{path} holds an unusable training state: {_reason(e)}") from None


def _nesting_depth(raw):
    """How deep the JSON's arrays and objects nest, found without parsing (a deep file would exhaust the parser's stack)."""
    skeleton = np.frombuffer(_STRING.sub(b'""', raw), dtype=np.uint8)
    steps = (np.isin(skeleton, (ord("["), ord("{"))).astype(np.int64) - np.isin(skeleton, (ord("]"), ord("}"))))
    return int(np.cumsum(steps).max(initial=0))


def _unknown(raw, known):
    extra = sorted(map(str, set(raw) - known))
    missing = sorted(known - set(raw))
    parts = ([f"unknown {', '.join(map(repr, extra[:3]))}"] if extra else []) + ([f"missing {', '.join(map(repr, missing))}"] if missing else [])
    return "; ".join(parts)


def _keys(raw, known, what):
    if not isinstance(raw, dict):
        raise ValueError(f"{what} must be an object")
    if set(raw) != known:
        raise ValueError(f"{what}: {_unknown(raw, known)}")
    return raw


def _refuse_constant(name):
    raise ValueError(f"non-finite number {name}")


def _safe_digest(body):
    try:
        return _digest(body)
    except (TypeError, ValueError):
        return None


def _reason(error):
    if isinstance(error, KeyError):
        return f"missing {error.args[0]!r}"
    return str(error) or type(error).__name__


def _floats(values, what, at_least=None):
    if not isinstance(values, list) or not all(type(x) in (float, int) for x in values):
        raise ValueError(f"{what} must be a list of numbers")
    floats = [float(x) for x in values]  # finite: 1e999 parses as infinity, which the checksum refuses
    if at_least is not None and any(x < at_least for x in floats):
        raise ValueError(f"{what} holds a number below {at_least:g}")
    return floats


def _matrices(raw, names, what, at_least=None):
    if not isinstance(raw, dict) or list(raw) != names:
        raise ValueError(f"{what} must hold the matrices {', '.join(names)} in that order")
    out = {}
    for name in names:
        rows = raw[name]
        if not isinstance(rows, list) or not rows:
            raise ValueError(f"{what}[{name}] must be a list of rows")
        out[name] = [_floats(row, f"{what}[{name}] row", at_least) for row in rows]
    return out


def _shape(matrix):
    return len(matrix), tuple(len(row) for row in matrix)


def _state_from_body(body):
    _keys(body, BODY_KEYS, "the body")
    known = {f.name for f in fields(Config)}
    raw_config = body["config"]
    if not isinstance(raw_config, dict) or set(raw_config) != known:
        raise ValueError("the config does not have Config's fields")
    config = Config(**raw_config).validate()

    docs_part = _keys(body["docs"], DOCS_KEYS, "docs")
    docs = docs_part["lines"]
    if not isinstance(docs, list) or not docs or not all(isinstance(d, str) and d and d == d.strip() for d in docs):
        raise ValueError("docs must be a non-empty list of stripped, non-empty lines")
    if docs_part.get("sha256") != docs_digest(docs) or docs_part.get("count") != len(docs):
        raise ValueError("the documents do not match their recorded count and digest")

    step = body["step"]
    if type(step) is not int or not 0 <= step <= config.num_steps:
        raise ValueError(f"step must be a whole number from 0 to {config.num_steps}")
    losses = _floats(body["losses"], "losses")
    if len(losses) != step:
        raise ValueError(f"{len(losses)} losses recorded for {step} steps")

    names = matrix_names(config.n_layer)
    params = _matrices(body["parameters"], names, "parameters")
    adam_m = _matrices(body["adam_m"], names, "adam_m")
    adam_v = _matrices(body["adam_v"], names, "adam_v", at_least=0.0)  # second moments: means of squares
    for name in names:
        if not _shape(params[name]) == _shape(adam_m[name]) == _shape(adam_v[name]):
            raise ValueError(f"{name}: the parameters and their Adam moments differ in shape")

    rng = _keys(body["rng_state"], RNG_KEYS, "rng_state")
    words, gauss_next = rng["words"], rng["gauss_next"]
    if rng["version"] != 3 or not isinstance(words, list) or len(words) != _MT_WORDS:
        raise ValueError("the RNG state is not a version-3 Mersenne Twister state")
    if not all(type(w) is int and 0 <= w < 2**32 for w in words) or words[-1] > 624:
        raise ValueError("the RNG state holds words out of range")
    if gauss_next is not None and (type(gauss_next) is not float or not math.isfinite(gauss_next)):
        raise ValueError("the RNG's cached gauss value must be a number or null")

    return TrainingState(
        config=config,
        step=step,
        losses=tuple(losses),
        params=params,
        adam_m=adam_m,
        adam_v=adam_v,
        rng_state=(3, tuple(words), gauss_next),
        docs=tuple(docs),
        docs_source=docs_part["source"] if isinstance(docs_part["source"], str) else "",
    )


def restore(state, config=None):
    """A new Trainer in exactly the saved state. `config` may change sampling fields only."""
    from core.engine.train import Trainer

    config = config or state.config
    if _training_fields(config) != _training_fields(state.config):
        raise CheckpointError("only the sampling settings may differ from the checkpoint's config")
    trainer = Trainer(list(state.docs), config)
    for name, matrix in trainer.model.state_dict.items():
        if name not in state.params or _shape(matrix) != _shape(state.params[name]):
            raise CheckpointError(f"the checkpoint's {name} does not fit the model its config and documents build")
    flat_m, flat_v = [], []
    for name, matrix in trainer.model.state_dict.items():
        for row, saved, m_row, v_row in zip(matrix, state.params[name], state.adam_m[name], state.adam_v[name]):
            for p, value in zip(row, saved):
                p.data = value
            flat_m.extend(m_row)
            flat_v.extend(v_row)
    trainer.adam_m, trainer.adam_v = flat_m, flat_v
    trainer.step_index = state.step
    trainer.losses = list(state.losses)
    trainer.rng.setstate(state.rng_state)
    trainer.start_history()  # steps before the saved one were never taken here: no going back past it
    return trainer


SAMPLING_FIELDS = ("temperature", "num_samples")


def _training_fields(config):
    return {k: v for k, v in asdict(config).items() if k not in SAMPLING_FIELDS}


def resume(path):
    """load() then restore(): a Trainer ready for its next step."""
    return restore(load(path))
