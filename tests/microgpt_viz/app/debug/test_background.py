"""Heavy work stays off the GUI thread: the debug docks' analyses, opening a training state,
recording the pinned doc of a step diff. Driven in the real window offscreen with pytest-qt."""
import threading

import pytest

pytest.importorskip("pytestqt")

import core.engine.train  # noqa: E402
import core.trace.wiring  # noqa: E402
from microgpt_viz.app.debug import anomaly_panel  # noqa: E402


@pytest.fixture
def wiring_threads(monkeypatch):
    """The thread of every Wiring built (anomaly report, replay and diff all read a step's wiring)."""
    threads = []
    real = core.trace.wiring.Wiring.__init__

    def spy(self, trace):
        threads.append(threading.current_thread())
        real(self, trace)

    monkeypatch.setattr(core.trace.wiring.Wiring, "__init__", spy)
    return threads


@pytest.fixture
def step(qtbot, settle, wait_ms):
    """step(window): one training step, waited for until it is on screen."""
    def step_(window):
        with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
            window.step()
        settle(window)
    return step_


def test_a_dock_tab_behind_another_does_no_work_and_catches_up_off_the_gui_thread(qtbot, window, wiring_threads, monkeypatch, step, wait_ms):
    panels = window.debug_panels
    checked_in = []
    real_check = anomaly_panel.check
    monkeypatch.setattr(anomaly_panel, "check", lambda trace: (checked_in.append(threading.current_thread()), real_check(trace))[1])
    anomalies = panels.docks["anomalies"]
    # Qt 6 calls a tab behind another one visible; the panels must not believe it
    assert window.docks["attention"].isVisible() and anomalies.isVisible()
    assert not panels._visible("anomalies") and not window.docks["attention"].visibleRegion().isEmpty()
    step(window)
    step(window)
    assert checked_in == [] and panels.anomalies.report is None
    assert wiring_threads == []  # nothing read the step's wiring while every analysis dock was hidden
    anomalies.raise_()
    qtbot.waitUntil(lambda: panels.anomalies.report is not None, timeout=wait_ms)
    assert panels.anomalies.report.step == window.session.trace.step == 2
    assert len(checked_in) == 1 and checked_in[0] is not threading.main_thread()
    assert wiring_threads and all(t is not threading.main_thread() for t in wiring_threads)


def test_the_replay_dock_in_front_prepares_each_step_in_the_worker(qtbot, window, wiring_threads, step, wait_ms):
    panels = window.debug_panels
    panels.docks["replay"].raise_()
    qtbot.waitUntil(lambda: panels.replay.trace is window.session.trace, timeout=wait_ms)
    step(window)
    qtbot.waitUntil(lambda: panels.replay.trace is window.session.trace, timeout=wait_ms)
    assert panels.replay.slider.maximum() == window.session.trace.num_nodes
    assert len(wiring_threads) == 2 and all(t is not threading.main_thread() for t in wiring_threads)


def test_opening_a_training_state_records_in_the_worker(qtbot, window, tmp_path, monkeypatch, step, settle, wait_ms):
    panels = window.debug_panels
    path = tmp_path / "state.json"
    step(window)
    assert panels.save_state(path)
    saved_losses = list(window.session.losses)
    step(window)
    recorded_in = []
    real_record = core.engine.train.Trainer.record

    def spy(self, doc=None):
        recorded_in.append(threading.current_thread())
        return real_record(self, doc)

    monkeypatch.setattr(core.engine.train.Trainer, "record", spy)
    shown = window.session.trace
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        assert panels.open_state(path)
        # the call returns at once; the window goes on showing the old step until the new one is recorded
        assert window.training.busy and window.session.trace is shown
    settle(window)
    assert len(recorded_in) == 1 and recorded_in[0] is not threading.main_thread()
    assert window.training.trainer.step_index == 1 and window.session.trace.step == 1
    assert window.session.losses == saved_losses == window.training_panel.loss_plot.losses


def test_replace_trainer_keeps_the_old_one_when_the_new_one_has_no_next_step(qtbot, window, boxes, docs, wait_ms):
    from core.engine.config import preset
    from core.engine.train import Trainer

    finished = Trainer(docs, preset("original", num_steps=2))
    finished.step()
    finished.step()
    before, trace = window.training.trainer, window.session.trace
    window.training.replace_trainer(finished, what="Cannot open the training state")
    qtbot.waitUntil(lambda: not window.training.busy and bool(boxes), timeout=wait_ms)
    assert boxes[-1][0] == "Cannot open the training state" and "planned steps" in boxes[-1][1]
    assert window.training.trainer is before and window.session.trace is trace


def test_record_a_docs_now_records_in_the_worker(qtbot, window, monkeypatch, step, wait_ms):
    panels = window.debug_panels
    panels.docks["diff"].raise_()
    qtbot.waitUntil(lambda: panels.diff.trace is window.session.trace, timeout=wait_ms)
    panels.diff.pin_current()
    pinned = panels.diff.pinned
    step(window)  # the next doc: another name, so the graphs do not line up
    qtbot.waitUntil(lambda: panels.diff.trace is window.session.trace, timeout=wait_ms)
    assert panels.diff.record_b.isEnabled()
    recorded_in = []
    real_record = core.engine.train.Trainer.record

    def spy(self, doc=None):
        recorded_in.append(threading.current_thread())
        return real_record(self, doc)

    monkeypatch.setattr(core.engine.train.Trainer, "record", spy)
    panels.diff.record_b.click()
    assert window.training.busy  # handed to the worker, not done on the spot
    qtbot.waitUntil(lambda: panels.diff.result is not None, timeout=wait_ms)
    assert recorded_in and all(t is not threading.main_thread() for t in recorded_in)
    assert panels.diff.recorded_b.doc == pinned.doc and panels.diff.result.a is pinned
