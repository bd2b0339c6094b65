"""What the tests of core/script share: the steps recorded from the fixture scripts, each run once,
and the built-in engine's steps they are compared with.

Recording a script runs it in a process of its own (a few seconds each), and a Trace is a frozen
snapshot, so the tests of this folder share one recording per script and arguments.
"""
import textwrap

import pytest

from core.engine.config import preset
from core.engine.data import load_docs
from core.engine.train import Trainer
from core.script.run import record_script, run_script
from core.script.to_trace import trace_from_capture


@pytest.fixture(scope="package")
def built_in(small_data):
    """built_in(preset name) -> the built-in engine's Trace of step 0 on the nine names, recorded once."""
    traces = {}

    def get(preset_name):
        if preset_name not in traces:
            traces[preset_name] = Trainer(load_docs(small_data), preset(preset_name)).record()
        return traces[preset_name]

    return get


@pytest.fixture(scope="package")
def tuples_capture(scripts, small_data, tmp_path_factory):
    """What the tuples-style script hands over at its first backward(), as plain data.

    Run with no argument: it reads input.txt in its working directory, as microgpt does.
    """
    cwd = tmp_path_factory.mktemp("cwd")
    (cwd / "input.txt").write_text(small_data.read_text())
    return run_script(scripts.tuples, cwd=cwd)


@pytest.fixture(scope="package")
def no_positions_script(scripts, tmp_path_factory):
    """A tiny script, tiny.py, whose loss is a log of a sum: no token positions at all."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.py"
    path.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(scripts.folder)!r})
        from micrograd_engine import Value

        a, b = Value(2.0), Value(-3.0)
        loss = ((a * b).relu() + a * a).log()  # a log of a sum: not the spec's mean over positions
        loss.backward()
    """))
    return path


@pytest.fixture(scope="package")
def script_traces(scripts, small_data, tuples_capture, no_positions_script):
    """script_traces(style) -> the Trace of the first backward() of a fixture script, recorded once.

    tuples, slots, micrograd: the three Value styles of microgpt on the nine names; mlp:
    micrograd's tanh MLP (no GPT, no tokens); no_positions: the tiny script of `no_positions_script`.
    """
    traces = {}

    def record(style):
        if style == "tuples":  # what record_script does with the capture
            return trace_from_capture(tuples_capture, script=str(scripts.tuples.resolve()))
        if style == "no_positions":
            return record_script(no_positions_script)
        args = {  # --steps sets the slots script's schedule, which starts after the recorded backward()
            "slots": ["--steps", "3", str(small_data)], "micrograd": [str(small_data)], "mlp": [],
        }[style]
        return record_script(getattr(scripts, style), args)

    def get(style):
        if style not in traces:
            traces[style] = record(style)
        return traces[style]

    return get
