"""`gui --screenshot F.png --select WHAT`: what to do before the picture is taken. No Qt here.

WHAT is a comma-separated list of actions, run in order, each waiting for the window to
settle (training idle, layout drawn) before the next. HELP lists every key (it is also the
epilog of `gui --help`). A bare number is a node id (`28663` is `node=28663`).

Two checks, both before the picture: `parse` reads the text (before any window opens), and
`check_against` holds the names and numbers in it against the recorded step (the first
recorded step, for every action before the first `steps=` or `script=`, which change it).
"""
import shlex
from dataclasses import dataclass
from difflib import get_close_matches

from core.trace.index import SCOPE, index_of

GRAB_TARGETS = ("window", "graph", "attention", "inspector", "overview", "tokens", "training", "source", "search",
                "anomalies", "gradcheck", "whatif", "replay", "diff")
HELP = (  # (key, example value, what it does)
    ("token", "2", "show position 2's loss cone (token=all: the whole step)"),
    ("expand", "pos2/layer0/attn", "open a group (a scope path or a vector id)"),
    ("toggle", "pos2/layer0/attn", "open a closed group, close an open one"),
    ("focus", "pos2/layer0/attn/head2", "zoom the graph into a scope"),
    ("node", "28663", "select a node, opening what hides it (a bare number works too)"),
    ("cell", "0:2:3:1", "click the attention cell layer:head:query:key"),
    ("level", "vector", "module, vector or scalar (scalar focuses the selection's scope)"),
    ("colour", "data", "colour boxes by grad, |grad| or data"),
    ("attention", "logits", "heatmaps of weights, logits or grads"),
    ("search", "op:exp pos:2", "run a search and jump to the first match"),
    ("steps", "5", "train 5 updates first (then the next step is recorded)"),
    ("samples", "10", "generate 10 names at the current parameters"),
    ("script", "my_gpt.py input.txt", "show the first step of your own script (path, then its arguments)"),
    ("pin", "microgpt", "with a script's step shown: pin microgpt's own step as A in the Step diff dock"),
    ("dock", "search", "bring a dock to the front"),
    ("zoom", "1.5", "zoom the graph view by this factor at the end"),
    ("size", "1600x1000", "window size in pixels"),
    ("grab", "attention", "save only this part, not the window: " + ", ".join(GRAB_TARGETS[1:])),
)
KEYS = tuple(key for key, _, _ in HELP)
CHANGE_THE_STEP = ("steps", "script")  # after one of these the recorded step is another one


def help_text():
    """The --select keys, one line each, for `gui --help`."""
    width = max(len(f"{key}={example}") for key, example, _ in HELP)
    lines = ["--select WHAT: comma-separated actions, run in order before the picture:"]
    lines += [f"  {f'{key}={example}':<{width}}  {what}" for key, example, what in HELP]
    lines.append("example: --select token=3,cell=0:2:3:1,size=1280x800")
    return "\n".join(lines)


class SelectError(ValueError):
    """A --select text that cannot be read, with a one-line reason."""


@dataclass(frozen=True)
class Action:
    key: str  # one of KEYS
    value: object  # parsed value: int, float, (w, h), str or None (token=all)


def parse(text):
    """The actions of a --select text, checked before any window opens."""
    actions = []
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        if part.isdigit():
            actions.append(Action("node", int(part)))
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in KEYS:
            raise SelectError(f"cannot read --select part {part!r}: use key=value with key one of {', '.join(KEYS)}")
        actions.append(Action(key, _value(key, value, part)))
    return actions


def _value(key, value, part):
    try:
        if key == "token":
            return None if value in ("all", "") else int(value)
        if key in ("node", "steps", "samples"):
            number = int(value)
            if number < 0:
                raise ValueError
            return number
        if key == "cell":
            numbers = tuple(int(v) for v in value.split(":"))
            if len(numbers) != 4 or min(numbers) < 0:
                raise ValueError
            return numbers
        if key == "zoom":
            factor = float(value)
            if not factor > 0:
                raise ValueError
            return factor
        if key == "size":
            width, height = (int(v) for v in value.lower().split("x"))
            return width, height
        if key == "script":
            words = tuple(shlex.split(value))
            if not words:
                raise ValueError
            return words
    except ValueError:
        raise SelectError(f"cannot read the value in --select part {part!r}") from None
    if key == "grab" and value not in GRAB_TARGETS:
        raise SelectError(f"grab={value!r}: choose from {', '.join(GRAB_TARGETS)}")
    if key == "level" and value not in ("module", "vector", "scalar"):
        raise SelectError(f"level={value!r}: choose module, vector or scalar")
    if key == "colour" and value not in ("grad", "|grad|", "data"):
        raise SelectError(f"colour={value!r}: choose grad, |grad| or data")
    if key == "pin" and value != "microgpt":
        raise SelectError(f"pin={value!r}: the only step to pin is microgpt's (pin=microgpt)")
    if key == "attention" and value not in ("weights", "logits", "grads"):
        raise SelectError(f"attention={value!r}: choose weights, logits or grads")
    if not value:
        raise SelectError(f"--select part {part!r} has nothing after '='")
    return value


def check_against(actions, trace):
    """Raise SelectError naming the first action that cannot apply to `trace` (the first recorded step).

    Only the actions before the first `steps=` or `script=` are checked: those change the step.
    """
    index = index_of(trace)
    for action in actions:
        key, value = action.key, action.value
        if key in CHANGE_THE_STEP:
            return
        where = f"--select {key}={_shown(action)}"
        if key == "node" and not 0 <= value < trace.num_nodes:
            raise SelectError(f"{where}: no such node (this step has nodes 0 to {trace.num_nodes - 1})")
        if key == "token" and value is not None and not 0 <= value < trace.positions:
            raise SelectError(f"{where}: no such position ({trace.doc!r} has positions 0 to {trace.positions - 1}, or all)")
        if key in ("expand", "toggle", "focus"):
            number = index.group_number.get(value.strip("/") if key == "focus" else value)
            if number is None or (key == "focus" and index.group_kind[number] != SCOPE):
                kind = "scope" if key == "focus" else "group"
                raise SelectError(f"{where}: no {kind} {value!r} in this step{_did_you_mean(index, value, key == 'focus')}")
        if key == "cell":
            _check_cell(trace, value, where)


def _shown(action):
    if action.key == "cell":
        return ":".join(map(str, action.value))
    return "all" if action.value is None else action.value


def _check_cell(trace, cell, where):
    shape = trace.attention_nodes.shape
    if trace.attention_nodes.ndim != 4 or not trace.attention_nodes.size:
        raise SelectError(f"{where}: this step has no attention tables")
    layers, heads, positions, _ = shape
    for name, value, count in zip(("layer", "head", "query", "key"), cell, (layers, heads, positions, positions)):
        if value >= count:
            raise SelectError(f"{where}: no {name} {value} (this step has {name}s 0 to {count - 1})")
    if cell[3] > cell[2]:
        raise SelectError(f"{where}: key {cell[3]} is after query {cell[2]}, masked (a query sees keys 0 to itself)")


def _did_you_mean(index, value, scopes_only):
    names = [g.id for g in index.groups if not scopes_only or g.kind == SCOPE]
    close = get_close_matches(value, names, n=3, cutoff=0.8)
    return f" (did you mean {' or '.join(close)}?)" if close else ""
