"""microgpt-viz: see every scalar of a microgpt training step."""
import os
import sys

__version__ = "0.1.0"


def show(value, screenshot=None):
    """Open the app on the graph reachable from `value`, an autograd Value of your own; return when the window closes.

    Works before or after `value.backward()` (grads are what they are at the call), for
    micrograd's Value and microgpt's (with or without __slots__); your Values are left as
    they were. With `screenshot="x.png"` the window is drawn offscreen, saved, and closed.
    Returns the app's exit status (0 when all went well).
    """
    from core.script.live import trace_of_value

    caller = sys._getframe(1)
    trace = trace_of_value(value, caller)
    if screenshot:
        from PyQt6.QtWidgets import QApplication

        if QApplication.instance() is None:
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from core.engine.config import preset
    from core.engine.data import load_docs, resolve_data_path
    from core.engine.train import Trainer
    from microgpt_viz.app.launch import run_app

    trainer = Trainer(load_docs(resolve_data_path()), preset("original"))
    where = f"show() at line {caller.f_lineno}"
    return run_app(trainer, screenshot=str(screenshot) if screenshot else None,
                   shown=(caller.f_code.co_filename, trace, where))
