"""Named scopes for the values the model makes, e.g. `pos3/layer0/attn/head2/softmax`.

The model opens a scope around each block; a recorder reads `current` for every new Value.
Scopes cost a few hundred context switches per step, not one per node, so they stay on in
the plain path too; that is also how a numerical failure learns where it happened.
"""

current = ""  # the path of the innermost open scope ("" outside any)
failed_in = None  # the path of the innermost scope an exception escaped from, if any


class named:
    """`with named('attn'):` opens scope `<current>/attn` for the values made inside."""

    __slots__ = ("name", "outer")

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        global current
        self.outer = current
        current = f"{current}/{self.name}" if current else self.name
        return self

    def __exit__(self, exc_type, exc, tb):
        global current, failed_in
        if exc_type is not None and failed_in is None:
            failed_in = current
        current = self.outer
        return False


def reset_failure():
    global failed_in
    failed_in = None
