"""Training you can rewind, one step count everywhere, and the divergence box, in the real window offscreen."""
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import QPointF, Qt  # noqa: E402
from PyQt6.QtWidgets import QMessageBox  # noqa: E402

from core.engine.config import preset  # noqa: E402
from core.engine.fast import fast_forward  # noqa: E402
from core.engine.train import Trainer  # noqa: E402
from microgpt_viz.session.stepping import step_words  # noqa: E402


def training_state(trainer):
    return ([p.data for p in trainer.params], list(trainer.adam_m), list(trainer.adam_v), trainer.rng.getstate())


def assert_counts_agree(window, expected):
    """Trainer, session, loss curve and the training dock all say `expected` updates were taken."""
    trainer, session = window.training.trainer, window.session
    assert trainer.step_index == session.step_index == expected
    assert trainer.losses == session.losses == window.training_panel.loss_plot.losses
    assert len(session.losses) == expected
    assert window.training_panel.status.text().startswith(step_words(expected, trainer.planned_steps))


def click_loss_curve(qtbot, plot, step):
    """A left click on the curve's point of `step`, where a user would click it."""
    box = plot.getPlotItem().getViewBox()
    scene_point = box.mapViewToScene(QPointF(step, plot.losses[step]))
    pixel = plot.mapFromScene(scene_point)
    assert plot.step_at(scene_point) == step
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=pixel)


def run_and_wait(qtbot, window, settle, wait_ms, count, fast):
    with qtbot.waitSignal(window.training.advanced, timeout=wait_ms):
        window.training.run(count, fast=fast)
    settle(window)


def test_clicking_the_loss_curve_goes_back_to_that_step_bit_for_bit(qtbot, window, docs, settle, wait_ms):
    run_and_wait(qtbot, window, settle, wait_ms, 40, fast=False)
    window.select_position(1)
    settle(window)
    assert_counts_agree(window, 40)

    with qtbot.waitSignal(window.training.rewound, timeout=wait_ms):
        click_loss_curve(qtbot, window.training_panel.loss_plot, 20)
    settle(window)

    fresh = Trainer(docs, preset("original"))
    for _ in range(20):
        fresh.step()
    assert training_state(window.training.trainer) == training_state(fresh)  # parameters, Adam moments, RNG: bit for bit
    assert_counts_agree(window, 20)
    assert window.session.losses == fresh.losses  # the history up to the step, none after
    assert window.session.trace.step == 20 and window.session.trace.loss == fresh.record().loss
    assert window.session.position == 1  # the view the user had is kept
    assert window.errors == []


def test_back_to_step_retakes_fast_forwarded_steps_on_the_fast_engine(qtbot, window, docs, settle, wait_ms):
    run_and_wait(qtbot, window, settle, wait_ms, 33, fast=True)
    with qtbot.waitSignal(window.training.rewound, timeout=wait_ms):
        assert window.rewind(17)
    settle(window)
    fresh = Trainer(docs, preset("original"))
    fast_forward(fresh, 17)
    assert training_state(window.training.trainer) == training_state(fresh)
    assert_counts_agree(window, 17)


def test_a_step_outside_the_kept_history_is_refused_with_a_box(window, boxes):
    assert not window.rewind(5)  # nothing was taken yet
    assert boxes and "not between" in boxes[-1][1]
    assert_counts_agree(window, 0)


def test_divergence_offers_the_last_finite_step_and_stepping_works_again(qtbot, make_window, settle, wait_ms):
    window = make_window(config=preset("original").with_changes(learning_rate=1.0))
    with qtbot.waitSignal(window.training.diverged, timeout=wait_ms) as diverged:
        window.run(300)
    settle(window)
    failed_at = diverged.args[0].diverged_at
    assert failed_at >= 1
    title, text = window.errors[-1]
    assert title == "Training diverged" and f"step {failed_at} diverged" in text
    assert_counts_agree(window, failed_at)  # the updates before the failed step stand, and everyone says so
    assert window.session.trace.step == 0  # the step could not be recorded: the dock says the graph is older
    status = window.training_panel.status.text()
    assert f"step {failed_at} could not be recorded" in status and "the graph shows step 0" in status

    box = window.message_box
    go_back = next(b for b in box.buttons() if b.text() == f"Go back to step {failed_at - 1}")
    with qtbot.waitSignal(window.training.rewound, timeout=wait_ms):
        go_back.click()
    settle(window)
    assert_counts_agree(window, failed_at - 1)
    assert window.session.trace.step == failed_at - 1

    errors_before = len(window.errors)
    window.training.set_learning_rate(0.01)  # as the box advises
    qtbot.waitUntil(lambda: not window.training.busy, timeout=wait_ms)
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        window.step()
    settle(window)
    assert len(window.errors) == errors_before
    assert_counts_agree(window, failed_at)
    assert window.session.trace.step == failed_at


def test_a_step_that_fails_changes_nothing_anywhere(qtbot, window, settle, wait_ms):
    run_and_wait(qtbot, window, settle, wait_ms, 2, fast=False)
    trainer = window.training.trainer
    before = training_state(trainer)
    real_step = trainer.step

    def failing_step(record=False):
        raise RuntimeError("a bug in the step")

    trainer.step = failing_step
    run_and_wait(qtbot, window, settle, wait_ms, 3, fast=False)
    assert training_state(trainer) == before
    assert_counts_agree(window, 2)
    assert window.errors[-1] == ("Training stopped", "RuntimeError: a bug in the step")
    assert "failing_step" in window.message_box.detailedText()
    trainer.step = real_step


def test_counts_agree_after_a_cancel(qtbot, window, settle, wait_ms):
    with qtbot.waitSignal(window.training.advanced, timeout=wait_ms):
        with qtbot.waitSignal(window.training.stepped, timeout=wait_ms):
            window.training.run(200, fast=False)
        window.cancel()
    settle(window)
    taken = window.training.trainer.step_index
    assert 1 <= taken < 200
    assert_counts_agree(window, taken)
    assert window.session.trace.step == taken


def test_counts_agree_at_the_end_of_the_plan(qtbot, make_window, settle, wait_ms):
    window = make_window(config=preset("original").with_changes(num_steps=30))
    run_and_wait(qtbot, window, settle, wait_ms, 45, fast=True)
    assert_counts_agree(window, 30)
    status = window.training_panel.status.text()
    assert "all 30 planned steps are done" in status and "the graph shows step 0" in status


def test_counts_agree_after_opening_a_saved_state(qtbot, window, tmp_path, settle, wait_ms):
    run_and_wait(qtbot, window, settle, wait_ms, 6, fast=True)
    assert window.debug_panels.save_state(tmp_path / "state.json")
    run_and_wait(qtbot, window, settle, wait_ms, 9, fast=True)
    with qtbot.waitSignal(window.training.trainerReset, timeout=wait_ms):
        assert window.debug_panels.open_state(tmp_path / "state.json")
    settle(window)
    assert_counts_agree(window, 6)
    assert not window.rewind(3)  # the opened state is where its history starts here


def session_state(window):
    s = window.session
    return (s.trace, s.position, s.selection, list(s.losses), s.step_index, list(s.samples), s.view.scope,
            tuple(sorted(s.view.expanded)))


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_shows_a_box_and_changes_nothing(qtbot, window, monkeypatch):
    before = session_state(window)

    def broken(position, remember=True):
        raise KeyError("a bug in a slot")

    monkeypatch.setattr(window.session, "select_position", broken)
    window.token_strip.positionClicked.emit(1)
    qtbot.waitUntil(lambda: bool(window.errors), timeout=5000)
    title, text = window.errors[-1]
    assert title == "Internal error" and text.startswith("KeyError: 'a bug in a slot'")
    assert "broken" in window.message_box.detailedText()
    monkeypatch.undo()
    assert session_state(window) == before


def test_an_exception_in_a_worker_job_shows_a_box_and_changes_nothing(qtbot, window, monkeypatch, settle, wait_ms):
    from microgpt_viz.session import stepping

    before = session_state(window)

    def broken(trainer, count=10, temperature=None):
        raise ValueError("a bug in the worker")

    monkeypatch.setattr(stepping, "sample_names", broken)
    window.sample(5)
    qtbot.waitUntil(lambda: bool(window.errors), timeout=wait_ms)
    settle(window)
    assert window.errors[-1] == ("Training failed", "ValueError: a bug in the worker")
    assert "broken" in window.message_box.detailedText()
    assert session_state(window) == before
    assert_counts_agree(window, 0)


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_thread_shows_a_box_and_the_hook_goes_with_the_window(qtbot, make_window):
    import sys
    import threading

    hook_before = sys.excepthook
    window = make_window()
    assert sys.excepthook != hook_before
    worker = threading.Thread(target=lambda: 1 / 0, name="a helper thread")
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: bool(window.errors), timeout=5000)
    assert window.errors[-1][0] == "Internal error" and "ZeroDivisionError" in window.errors[-1][1]
    assert isinstance(window.message_box, QMessageBox)
    window.close()
    assert sys.excepthook == hook_before


def test_back_to_step_asks_which_step_from_the_training_menu(qtbot, window, monkeypatch, settle, wait_ms):
    from PyQt6.QtGui import QKeySequence
    from PyQt6.QtWidgets import QInputDialog

    run_and_wait(qtbot, window, settle, wait_ms, 12, fast=True)
    asked = []

    def get_int(parent, title, label, value, low, high, *args, **kwargs):
        asked.append((low, high))
        return 5, True

    monkeypatch.setattr(QInputDialog, "getInt", staticmethod(get_int))
    action = window.actions["rewind"]
    assert action.shortcut() == QKeySequence("Ctrl+B") and action.isEnabled()
    with qtbot.waitSignal(window.training.rewound, timeout=wait_ms):
        action.trigger()
    settle(window)
    assert asked == [(0, 12)]
    assert_counts_agree(window, 5)
