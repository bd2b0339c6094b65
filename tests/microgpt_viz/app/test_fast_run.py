"""Run N on the NumPy fast-forward engine, Step on the scalar one, in the real window offscreen."""
import numpy as np
import pytest

pytest.importorskip("pytestqt")

import core.engine.fast  # noqa: E402
import core.engine.train  # noqa: E402
from core.engine.config import preset  # noqa: E402
from core.engine.train import Trainer  # noqa: E402
from microgpt_viz.session import stepping  # noqa: E402


@pytest.fixture
def counted(monkeypatch):
    """How many updates each engine took: {'fast': n, 'scalar': n}."""
    counts = {"fast": 0, "scalar": 0}
    real_fast, real_scalar = core.engine.fast.FastTrainer.step, core.engine.train.Trainer.step

    def fast_step(self):
        counts["fast"] += 1
        return real_fast(self)

    def scalar_step(self, record=False):
        counts["scalar"] += 1
        return real_scalar(self, record)

    monkeypatch.setattr(core.engine.fast.FastTrainer, "step", fast_step)
    monkeypatch.setattr(core.engine.train.Trainer, "step", scalar_step)
    return counts


def test_run_n_fast_forwards_then_records_the_next_step_on_the_scalar_engine(qtbot, window, counted, docs, settle, wait_ms):
    n = 12
    seen, engines = [], []
    window.training.stepped.connect(seen.extend)
    window.training.advanced.connect(lambda advance: engines.append(advance.engine))
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        window.run(n)
    settle(window)
    assert counted == {"fast": n, "scalar": 0} and engines == ["fast"]
    trainer, session = window.training.trainer, window.session
    # every update's loss reached the loss curve, in order
    assert session.losses == seen == trainer.losses == window.training_panel.loss_plot.losses
    assert len(seen) == n and trainer.step_index == n and session.trace.step == n
    # the same numbers as n scalar updates (to rounding), and the recorded step n+1 reads them
    twin = Trainer(docs, preset("original"))
    for _ in range(n):
        twin.step()
    assert np.abs(np.array(session.losses) - np.array(twin.losses)).max() <= 1e-9
    assert session.trace.loss == pytest.approx(twin.record().loss, abs=1e-9)


def test_cancel_stops_a_fast_run_between_two_fast_steps(qtbot, window, monkeypatch, settle, wait_ms):
    stop_after = 7
    taken = []
    real = core.engine.fast.FastTrainer.step

    def step(self):
        loss = real(self)
        taken.append(loss)
        if len(taken) == stop_after:
            window.training.cancel()  # from the worker, as a click on Cancel lands mid-run
        return loss

    monkeypatch.setattr(core.engine.fast.FastTrainer, "step", step)
    results = []
    window.training.advanced.connect(results.append)
    window.run(500)
    qtbot.waitUntil(lambda: bool(results) and not window.training.busy, timeout=wait_ms)
    settle(window)
    assert results[0].stopped_early and results[0].error is None
    assert len(taken) == stop_after == window.training.trainer.step_index
    assert window.session.losses == taken == window.training_panel.loss_plot.losses
    assert window.session.trace.step == stop_after  # the step after the last update is on screen


def test_step_is_one_scalar_update_even_with_fast_forward_on(qtbot, window, counted, settle, wait_ms):
    assert window.training_panel.fast.isChecked() and window.training.fast
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        window.step()
    settle(window)
    assert counted == {"fast": 0, "scalar": 1}
    assert len(window.session.losses) == 1 == window.session.trace.step


def test_scalar_runs_when_fast_forward_is_off_or_unavailable(qtbot, window, counted, monkeypatch, settle, wait_ms):
    engines = []
    window.training.advanced.connect(lambda advance: engines.append(advance.engine))
    window.training_panel.fast.setChecked(False)
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        window.run(2)
    settle(window)
    assert counted == {"fast": 0, "scalar": 2} and engines == ["scalar"]
    window.training_panel.fast.setChecked(True)
    monkeypatch.setattr(stepping, "fast_engine_problem", lambda trainer: "ImportError: no numpy here")
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        window.run(2)
    settle(window)
    assert counted == {"fast": 0, "scalar": 4} and engines == ["scalar", "scalar"]
    assert len(window.session.losses) == 4 == window.session.trace.step


def test_a_fast_run_that_diverges_keeps_the_steps_before_it(qtbot, make_window, boxes, wait_ms):
    window = make_window(config=preset("original", learning_rate=1e4))
    trace = window.session.trace
    results = []
    window.training.advanced.connect(results.append)
    window.run(50)
    qtbot.waitUntil(lambda: bool(results) and not window.training.busy, timeout=wait_ms)
    assert results[0].engine == "fast" and "diverged" in results[0].error
    assert boxes and "diverged" in boxes[-1][1]
    taken = window.training.trainer.step_index
    assert 0 < taken < 50 and len(window.session.losses) == taken == len(window.training.trainer.losses)
    assert window.session.trace is trace or window.session.trace.step == taken


def test_running_to_the_end_of_the_plan_says_so(qtbot, make_window, boxes, wait_ms):
    window = make_window(config=preset("original", num_steps=5))
    shown = window.session.trace
    results = []
    window.training.advanced.connect(results.append)
    window.run(5)
    qtbot.waitUntil(lambda: bool(results) and not window.training.busy, timeout=wait_ms)
    assert len(window.session.losses) == 5 and results[0].trace is None and not boxes
    assert window.session.trace is shown  # no step 6 in a plan of 5: the last one recorded stays
    assert "all 5 planned steps are done" in window.training_panel.status.text()
