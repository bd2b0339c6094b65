"""Train > Reset with another size…: the dialog's checks, the reset it makes, and the settings it leaves."""
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import QSettings  # noqa: E402
from PyQt6.QtWidgets import QDialog, QDialogButtonBox  # noqa: E402

from core.engine.config import preset  # noqa: E402
from core.engine.train import Trainer  # noqa: E402
from microgpt_viz.app import main_window as main_window_module, model_settings  # noqa: E402
from microgpt_viz.app.dialogs.size_dialog import SizeDialog, SizeRequest  # noqa: E402


def _set(dialog, **values):
    for name, value in values.items():
        dialog.spins[name].setValue(value)


def test_the_dialog_refuses_a_width_the_heads_do_not_divide(qtbot):
    dialog = SizeDialog(preset_name="original", size={"n_layer": 1, "n_embd": 16, "n_head": 4, "block_size": 8})
    qtbot.addWidget(dialog)
    dialog.show()
    _set(dialog, n_embd=30)
    assert dialog.problem.text() == "n_embd (30) must be divisible by n_head (4)"  # the CLI's own words
    assert dialog.request() is None
    reset = dialog.buttons.button(QDialogButtonBox.StandardButton.Reset)
    assert not reset.isEnabled()
    reset.click()
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    _set(dialog, n_head=5)
    assert dialog.problem.text() == "" and reset.isEnabled()
    assert dialog.request() == SizeRequest("original", n_layer=1, n_embd=30, n_head=5, block_size=8)


def test_the_dialog_starts_from_the_size_in_use(qtbot):
    dialog = SizeDialog(preset_name="latest", size={"n_layer": 3, "n_embd": 24, "n_head": 6, "block_size": 10})
    qtbot.addWidget(dialog)
    assert dialog.preset.currentText() == "latest"
    assert {name: spin.value() for name, spin in dialog.spins.items()} == {"n_layer": 3, "n_embd": 24, "n_head": 6, "block_size": 10}


def _dialog_filled_with(monkeypatch, **values):
    """Make the window's dialog fill itself with `values` and press Reset instead of waiting for a person."""
    class Filled(SizeDialog):
        def exec(self):
            preset_name = values.pop("preset_name", None)
            if preset_name:
                self.preset.setCurrentText(preset_name)
            _set(self, **values)
            self.buttons.button(QDialogButtonBox.StandardButton.Reset).click()
            return self.result()

    monkeypatch.setattr(main_window_module, "SizeDialog", Filled)


def test_a_bad_size_from_the_window_changes_nothing(window, boxes, settle):
    trainer, trace = window.training.trainer, window.session.trace
    config = trainer.config
    assert window.reset_with_size(SizeRequest("original", n_layer=2, n_embd=30, n_head=4, block_size=8)) is False
    assert boxes == [("Cannot use this size", "n_embd (30) must be divisible by n_head (4)")]
    assert not window.training.busy
    assert window.training.trainer is trainer and trainer.config == config
    assert window.session.trace is trace
    assert window.settings.value("model/preset") is None  # nothing remembered either


def test_the_dialog_in_the_window_does_not_reset_on_a_bad_size(window, boxes, monkeypatch):
    _dialog_filled_with(monkeypatch, n_embd=18)  # 18 is not a multiple of the 4 heads
    config, trace = window.training.trainer.config, window.session.trace
    window.open_size_dialog()
    assert not window.training.busy and window.training.trainer.config == config and window.session.trace is trace
    assert window.settings.value("model/preset") is None


def test_reset_with_another_size_records_that_model_and_remembers_it(window, qtbot, settle, monkeypatch, wait_ms):
    _dialog_filled_with(monkeypatch, preset_name="latest", n_layer=2, n_embd=8, n_head=2)
    with qtbot.waitSignal(window.training.trainerReset, timeout=wait_ms):
        window.open_size_dialog()
    settle(window)
    config = window.training.trainer.config
    assert (config.n_layer, config.n_embd, config.n_head, config.block_size) == (2, 8, 2, 16)
    assert config.activation == preset("latest").activation and window.preset_name == "latest"
    assert any(scope.startswith("pos0/layer1/") for scope in set(window.session.trace.scope))
    assert window.session.trace.step == 0
    assert model_settings.load(window.settings) == ("latest", {"n_layer": 2, "n_embd": 8, "n_head": 2, "block_size": 16})

    # Reset stays one click and keeps the chosen size; the preset's own context comes with the preset
    window.training_panel.preset.setCurrentText("original")
    with qtbot.waitSignal(window.training.trainerReset, timeout=wait_ms):
        window.training_panel.reset_button.click()
    settle(window)
    config = window.training.trainer.config
    assert (config.n_layer, config.n_embd, config.n_head, config.block_size) == (2, 8, 2, 8)
    assert config.activation == preset("original").activation
    assert model_settings.load(window.settings) == ("original", {"n_layer": 2, "n_embd": 8, "n_head": 2, "block_size": 8})


def test_the_saved_size_rebuilds_the_next_starts_trainer(tmp_path, docs):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    model_settings.save(settings, "latest", preset("latest", n_layer=3, n_embd=12, n_head=3))
    trainer = Trainer(docs, preset("original", seed=7))
    assert model_settings.apply_saved(settings, trainer) == "latest"
    c = trainer.config
    assert (c.n_layer, c.n_embd, c.n_head, c.block_size, c.seed) == (3, 12, 3, 16, 7)
    assert len(trainer.model.params) == len(Trainer(docs, c).model.params)


def test_an_unusable_saved_size_is_ignored(tmp_path, docs):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    for key, value in (("preset", "latest"), ("n_layer", 1), ("n_embd", 10), ("n_head", 4), ("block_size", 8)):
        settings.setValue(f"model/{key}", value)
    trainer = Trainer(docs, preset("original"))
    config = trainer.config
    assert model_settings.apply_saved(settings, trainer) is None
    assert trainer.config == config


def test_another_preset_brings_its_own_context_unless_one_was_chosen(qtbot):
    dialog = SizeDialog(preset_name="original", size={"n_layer": 2, "n_embd": 16, "n_head": 4, "block_size": 8})
    qtbot.addWidget(dialog)
    dialog.preset.setCurrentText("latest")
    assert dialog.request() == SizeRequest("latest", n_layer=2, n_embd=16, n_head=4, block_size=16)
    _set(dialog, block_size=12)
    dialog.preset.setCurrentText("original")
    assert dialog.request() == SizeRequest("original", n_layer=2, n_embd=16, n_head=4, block_size=12)


def test_after_opening_a_training_state_of_another_size_reset_keeps_that_size(window, qtbot, settle, docs, tmp_path, wait_ms):
    from core.engine import checkpoint

    other = Trainer(docs, preset("original", n_layer=2, n_embd=8, n_head=2))
    other.step()
    path = tmp_path / "two-layers.json"
    checkpoint.save(other, path)
    with qtbot.waitSignal(window.training.trainerReset, timeout=wait_ms):
        assert window.debug_panels.open_state(path)
    settle(window)
    with qtbot.waitSignal(window.training.trainerReset, timeout=wait_ms):
        window.training_panel.reset_button.click()
    settle(window)
    config = window.training.trainer.config
    assert (config.n_layer, config.n_embd, config.n_head) == (2, 8, 2) and window.training.trainer.step_index == 0
