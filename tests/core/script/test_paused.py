"""core/script/paused.py: a user's script paused at its backward() calls and stepped on, in a process of its own."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from core.script.paused import PausedScript
from core.script.run import ScriptError, record_script


def printed_losses(path, args=()):
    """The losses the micrograd MLP fixture prints when run as `python script.py` (`step loss` lines)."""
    out = subprocess.run([sys.executable, str(path), *args], cwd=path.parent, capture_output=True, text=True, check=True).stdout
    return [float(line.split()[1]) for line in out.splitlines()]


@pytest.fixture
def paused(request):
    """paused(path, args=()) -> a PausedScript, closed when the test ends."""
    made = []

    def make(path, args=()):
        made.append(PausedScript(path, args))
        return made[-1]

    yield make
    for script in made:
        script.close()


def write_script(folder, scripts, body):
    path = folder / "user_script.py"
    path.write_text(f"import sys\nsys.path.insert(0, {str(scripts.folder)!r})\n" + textwrap.dedent(body))
    return path


def test_stepping_gives_each_backward_in_turn_with_the_scripts_own_losses(scripts, paused):
    expected = printed_losses(scripts.mlp)
    script = paused(scripts.mlp)
    first = script.advance()
    second = script.advance()
    reported = []
    fourth = script.advance(2, on_loss=lambda calls, loss: reported.append((calls, loss)))
    assert [first.step, second.step, fourth.step] == [0, 1, 3]
    assert script.losses == expected[:4] and script.backward_calls == 4
    assert reported == [(3, expected[2]), (4, expected[3])]
    assert [first.loss, second.loss, fourth.loss] == [expected[0], expected[1], expected[3]]
    assert script.running and script.process.poll() is None  # paused, waiting for the next command


def test_a_stepped_step_is_the_one_record_script_takes_at_that_backward(scripts, small_data, paused):
    args = [str(small_data), "5"]
    script = paused(scripts.tuples, args)
    stepped = script.advance(2)  # the first backward() runs unrecorded
    recorded = record_script(scripts.tuples, args, at_backward=2)
    assert stepped.step == recorded.step == 1 and stepped.doc == recorded.doc
    assert stepped.num_nodes == recorded.num_nodes and stepped.op == recorded.op and stepped.scope == recorded.scope
    assert np.array_equal(stepped.data, recorded.data) and np.array_equal(stepped.grad, recorded.grad)
    assert sorted(stepped.graph.edges) == sorted(recorded.graph.edges)
    assert np.array_equal(stepped.attention_weights, recorded.attention_weights, equal_nan=True)


def test_a_stop_request_ends_a_long_advance_at_the_next_backward(tmp_path, scripts, paused):
    script = paused(write_script(tmp_path, scripts, """
        from micrograd_engine import Value
        w = Value(0.5)
        for step in range(100000):
            loss = (w * 3.0 - 1.0) ** 2
            w.grad = 0
            loss.backward()
            w.data -= 0.01 * w.grad
    """))
    script.advance()
    trace = script.advance(99000, should_stop=lambda: script.backward_calls >= 3)
    assert 3 <= script.backward_calls < 99000 and trace.step == script.backward_calls - 1
    assert trace.loss == script.losses[-1] and script.running
    assert script.advance().step == script.backward_calls - 1  # and it goes on from there


def test_a_script_that_raises_mid_run_ends_with_its_own_traceback(tmp_path, scripts, paused):
    script = paused(write_script(tmp_path, scripts, """
        from micrograd_engine import Value
        def check(step):
            if step == 2:
                raise ValueError("diverged at step 2")
        w = Value(0.5)
        for step in range(10):
            check(step)
            loss = w * w
            loss.backward()
    """))
    script.advance()
    with pytest.raises(ScriptError) as caught:
        script.advance(5)
    error = caught.value
    assert error.kind == "raised" and "raised ValueError: diverged at step 2" in str(error)
    assert 'in check\n    raise ValueError("diverged at step 2")' in error.script_traceback
    assert "paused_child" not in error.script_traceback and "runpy" not in error.script_traceback
    assert script.backward_calls == 2 and not script.running and script.process.poll() is not None
    with pytest.raises(ScriptError, match="diverged"):
        script.advance()  # over: the same error again, no new run


def test_a_script_whose_loop_ends_says_it_finished(tmp_path, scripts, paused):
    script = paused(write_script(tmp_path, scripts, """
        from micrograd_engine import Value
        w = Value(0.5)
        for step in range(3):
            (w * w).backward()
        print("done training")
    """))
    script.advance()
    with pytest.raises(ScriptError) as caught:
        script.advance(5)
    assert caught.value.kind == "finished" and "finished after 3 backward() calls" in str(caught.value)
    assert "done training" in caught.value.output and script.backward_calls == 3 and not script.running


def test_close_ends_the_script_and_what_it_started(tmp_path, scripts, paused, ends):
    script = paused(write_script(tmp_path, scripts, """
        import subprocess, sys
        from micrograd_engine import Value
        helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print(helper.pid, flush=True)
        w = Value(0.5)
        while True:
            (w * w).backward()
    """))
    script.advance()
    helper = int(script.output().split()[0])
    script.close()
    assert script.process.poll() is not None and not script.running
    assert ends(helper)
    with pytest.raises(ScriptError) as caught:
        script.advance()
    assert caught.value.kind == "closed"


def test_the_script_ends_when_the_process_that_stepped_it_goes(tmp_path, scripts, ends, root):
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(f"""
        from core.script.paused import PausedScript
        script = PausedScript({str(scripts.mlp)!r})
        script.advance()
        print(script.process.pid, flush=True)
    """))  # and exits without closing it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, str(driver)], capture_output=True, text=True, check=True, env=env).stdout
    child = int(out.split()[-1])
    assert ends(child)


@pytest.fixture
def ends(process_running):
    """ends(pid): True once `pid` has ended; a bounded wait (0.05 s a poll), not a measurement."""
    def wait(pid, polls=600):
        import time
        for _ in range(polls):
            if not process_running(pid):
                return True
            time.sleep(0.05)
        return False
    return wait


def test_a_stop_request_while_the_script_starts_ends_it(tmp_path, scripts, paused):
    script = paused(write_script(tmp_path, scripts, """
        import time
        time.sleep(600)
    """))
    with pytest.raises(ScriptError) as caught:
        script.advance(should_stop=lambda: True, stop_kills=True)
    assert caught.value.kind == "cancelled" and "stopped before it reached backward()" in str(caught.value)
    assert script.process.poll() is not None and not script.running
