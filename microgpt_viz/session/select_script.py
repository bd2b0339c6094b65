"""`gui --screenshot F.png --select WHAT`: what to do before the picture is taken. No Qt here.

WHAT is a comma-separated list of actions, run in order, each waiting for the window to
settle (training idle, layout drawn) before the next:

    token=2                show position 2's loss cone (token=all: the whole step)
    expand=pos2/layer0/attn/head2     open a group (toggle=... flips it)
    focus=pos2/layer0/attn/head2      zoom the graph into a scope
    node=28663  or just  28663        select a node (opening what hides it)
    cell=0:2:3:1           click the attention cell layer 0, head 2, query 3, key 1
    level=vector           module, vector or scalar
    colour=data            grad, |grad| or data
    attention=logits       weights, logits or grads
    search=op:exp pos:2    run a search and jump to the first match
    steps=5                train 5 updates first (then the next step is recorded)
    script=my_gpt.py input.txt    show the first step of your own script (path, then its arguments)
    samples=10             generate 10 names at the current parameters
    dock=search            bring a dock to the front
    zoom=1.5               zoom the graph view by this factor at the end
    size=1600x1000         window size
    grab=attention         what to save: window (default), graph, attention, inspector,
                           overview, tokens, training, source, search
"""
import shlex
from dataclasses import dataclass

GRAB_TARGETS = ("window", "graph", "attention", "inspector", "overview", "tokens", "training", "source", "search")
KEYS = ("token", "cell", "expand", "toggle", "focus", "node", "level", "colour", "attention", "search", "steps", "samples", "dock", "zoom", "size", "grab", "script")


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
    if key == "attention" and value not in ("weights", "logits", "grads"):
        raise SelectError(f"attention={value!r}: choose weights, logits or grads")
    if not value:
        raise SelectError(f"--select part {part!r} has nothing after '='")
    return value
