"""The Step diff dock with a user's script open: the built-in model's step on the same doc pinned against the script's."""
import numpy as np
import pytest

pytest.importorskip("pytestqt")


def test_microgpts_step_pinned_against_the_scripts_current_step(qtbot, make_window, names, open_script, boxes, scripts, settle, wait_ms):
    from core.engine.config import preset

    window = make_window(config=preset("latest"))  # the tuples fixture is microgpt's latest, seed 42
    panel = window.debug_panels.diff
    assert panel.pin_built_in.isHidden()  # the model's own step: nothing to compare with microgpt
    open_script(window, scripts.tuples, (str(names),))
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        window.step()  # its second backward(): after one update of its own
    settle(window)
    script_step = window.session.trace
    window.debug_panels.docks["diff"].raise_()
    assert not panel.pin_built_in.isHidden() and panel.record_b.isHidden()
    with qtbot.waitSignal(panel.diffChanged, timeout=wait_ms, check_params_cb=lambda result: result is not None):
        panel.pin_built_in.click()
    pinned, result = panel.pinned, panel.result
    assert pinned.config is not None and pinned.step == script_step.step == 1 and pinned.doc == script_step.doc
    assert result.b is script_step and result.same_doc
    # an unmodified microgpt: node for node the same numbers, so nothing changed
    assert np.abs(result.data_delta).max() == 0 and np.abs(result.grad_delta).max() == 0
    assert result.first_data_divergence is None and result.first_grad_divergence is None
    assert "A = step 1, B = the script's step 1" in panel.summary.text() and not boxes
