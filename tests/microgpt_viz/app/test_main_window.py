"""The real main window, driven offscreen with pytest-qt: clicks, keys, training, export, errors."""
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import Qt, QTimer  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from core.engine.config import preset  # noqa: E402
from microgpt_viz.app.docks.attention import Cell  # noqa: E402
from microgpt_viz.app.graph.items import ClusterItem  # noqa: E402


def click_graph_box(qtbot, window, visible_id, double=False):
    view = window.graph.view
    view.centre_on(visible_id)
    point = view.view_point_of(visible_id)
    assert view.viewport().rect().contains(point), visible_id
    if double:
        qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    else:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)


def test_start_select_token_expand_and_click_through(qtbot, window, settle, wait_ms):
    session, trace = window.session, window.session.trace
    assert trace is not None and trace.step == 0
    assert window.token_strip.trace is trace and window.attention.canvas.trace is trace
    # pick a token in the strip: the graph shows that token's loss cone
    strip = window.token_strip
    centre = strip.cell_rect(1).center().toPoint()
    qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=centre)
    settle(window)
    assert session.position == 1
    assert session.selection.node == trace.position_loss_nodes[1]
    assert "pos1" in window.graph.breadcrumb.texts()[0] or "position 1" in window.graph.breadcrumb.texts()[0]
    # expand a group by double-clicking its box
    group = "pos1/layer0/attn/head0/softmax"
    assert group in window.graph.view.nodes and group not in session.view.expanded
    click_graph_box(qtbot, window, group, double=True)
    settle(window)
    assert group in session.view.expanded
    assert isinstance(window.graph.view.item_for(group), ClusterItem)
    # select a single value by clicking it, then click through its first input in the inspector
    loss_node = int(trace.position_loss_nodes[1])
    window.go_to_node(loss_node)
    settle(window)
    assert session.selection.node == loss_node
    click_graph_box(qtbot, window, f"n{loss_node}")
    assert session.selection.visible == f"n{loss_node}"
    table = window.inspector.inputs
    assert table.rowCount() == 2  # -1 * log(p): a constant and the log
    first_input = int(table.item(0, 0).data(Qt.ItemDataRole.UserRole))
    rect = table.visualItemRect(table.item(0, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: session.selection.node == first_input, timeout=wait_ms)
    settle(window)
    assert window.inspector.node == first_input
    assert window.inspector.title.text().startswith(f"#{first_input}")
    # its consumers include where we came from; the contributions add up to its grad
    consumers = [int(window.inspector.consumers.item(r, 0).data(Qt.ItemDataRole.UserRole)) for r in range(window.inspector.consumers.rowCount())]
    assert loss_node in consumers
    assert "= grad" in window.inspector.sum_label.text()
    # the source view shows the line that made it
    assert window.source.line == trace.graph.nodes[first_input]["line"]
    # back returns to the loss node (Alt+Left)
    qtbot.keyClick(window, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert session.selection.node == loss_node
    qtbot.keyClick(window, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert session.selection.node == first_input


def test_step_twice_grows_losses_updates_graph_and_keeps_expansion(qtbot, window, settle, wait_ms):
    session = window.session
    window.select_position(1)
    settle(window)
    group = "pos1/layer0/mlp/fc1"
    window.toggle_group(group)
    settle(window)
    assert group in session.view.expanded
    first = session.trace
    for expected in (1, 2):
        before = {vid: item.node for vid, item in window.graph.view.nodes.items()}
        with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
            qtbot.keyClick(window, Qt.Key.Key_Space)
        settle(window)
        assert len(session.losses) == expected
        assert session.trace.step == expected
        assert window.training_panel.loss_plot.losses == session.losses
        assert window.training_panel.status.text().startswith(f"step {expected} · ")  # numbered from 0, as the CLI does
        assert group in session.view.expanded and isinstance(window.graph.view.item_for(group), ClusterItem)
        # every box now shows the new step's numbers
        rendered = session.rendered()
        assert rendered.trace is session.trace
        assert all(window.graph.view.nodes[n.id].node is n for n in rendered.nodes)
        assert not any(item.node is before.get(vid) for vid, item in window.graph.view.nodes.items())
    assert session.trace is not first


def test_run_20_and_cancel_midway_keeps_the_window_responsive(qtbot, window, settle, wait_ms):
    session = window.session
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    losses_seen = []
    window.training.stepped.connect(losses_seen.extend)
    timer.start(10)
    window.training_panel.fast.setChecked(False)  # every update on the scalar engine: slow enough to press Esc midway
    assert window.training.fast is False
    window.training_panel.run_count.setValue(20)
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert window.training.busy and window.training_panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: len(losses_seen) >= 2, timeout=wait_ms)
    ticks_while_running = len(ticks)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.training.busy, timeout=wait_ms)
    timer.stop()
    settle(window)
    assert 2 <= len(session.losses) < 20
    assert session.trace.step == len(session.losses)  # the step after the last update is on screen
    assert ticks_while_running >= 3  # the GUI thread kept handling events while training ran
    assert not window.training_panel.cancel_button.isEnabled()
    assert window.training_panel.step_button.isEnabled()


def test_export_svg_from_the_dialog_and_attention_png(qtbot, window, tmp_path, wait_ms):
    target = tmp_path / "view.svg"

    def fill_dialog():
        dialog = QApplication.activeModalWidget()
        dialog.format.setCurrentText("svg")
        dialog.path.setText(str(target))
        dialog.accept()

    QTimer.singleShot(0, fill_dialog)
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(target.exists, timeout=wait_ms)
    text = target.read_text()
    assert "<svg" in text and "</svg>" in text
    assert "loss of position" in text  # the title names the view
    picture = tmp_path / "attention.png"
    window.export_attention(picture, "png")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    vector = tmp_path / "attention.svg"
    window.export_attention(vector, "svg")
    assert "head 0" in vector.read_text()


def test_bad_data_file_shows_a_message_and_keeps_everything(qtbot, window, boxes, tmp_path, monkeypatch, wait_ms):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"ren\xe9e\n")
    trace, losses = window.session.trace, list(window.session.losses)
    from PyQt6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(bad), "")))
    window.actions["open_data"].trigger()
    assert len(boxes) == 1 and "not UTF-8" in boxes[0][1]
    assert window.session.trace is trace and window.session.losses == losses
    assert window.open_data(tmp_path / "missing.txt") is False
    assert "not found" in boxes[-1][1]
    # the app still trains afterwards
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        window.step()
    assert len(window.session.losses) == 1


def test_opening_a_good_data_file_starts_over_on_it(qtbot, window, tmp_path, wait_ms):
    good = tmp_path / "pets.txt"
    good.write_text("rex\nfido\nbella\n")
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        assert window.open_data(good)
    assert window.session.trace.doc in {"rex", "fido", "bella"}
    assert window.session.losses == []


def test_diverged_step_is_a_message_and_the_last_good_step_stays(qtbot, make_window, boxes, wait_ms):
    window = make_window(config=preset("original", learning_rate=1e4))
    trace = window.session.trace
    window.run(10)
    qtbot.waitUntil(lambda: not window.training.busy, timeout=wait_ms)
    assert boxes and "diverged" in boxes[-1][1]
    assert window.session.trace is trace  # the last good recording stays on screen
    assert len(window.session.losses) == window.training.trainer.step_index < 10


def test_missing_graphviz_is_a_message_and_the_rest_works(qtbot, make_window, boxes, monkeypatch, wait_ms):
    import core.views.layout

    core.views.layout.clear_cache()
    monkeypatch.setattr(core.views.layout.shutil, "which", lambda name: None)
    window = make_window(start=False)
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        window.start()
    qtbot.waitUntil(lambda: bool(boxes), timeout=wait_ms)
    assert "Graphviz" in boxes[0][0] and "install" in boxes[0][1]
    assert "not installed" in window.graph.notice.text()
    window.select_position(0)  # no second box for the same problem, and the rest still works
    qtbot.waitUntil(lambda: not window.graphviz.busy, timeout=wait_ms)
    assert len(boxes) == 1
    assert window.inspector.node == window.session.trace.position_loss_nodes[0]


def test_attention_cell_click_hover_and_modes(qtbot, window, settle):
    canvas = window.attention.canvas
    trace = window.session.trace
    cell = Cell(layer=0, head=2, query=2, key=1)
    point = canvas.cell_centre(cell).toPoint()
    assert canvas.cell_at(point.x(), point.y()) == cell
    assert "weight" in canvas.describe(cell) and "query 2" in canvas.describe(cell)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=point)
    settle(window)
    node = int(trace.attention_nodes[0, 2, 2, 1])
    assert window.session.selection.node == node
    assert window.session.position == 2
    assert window.session.selection.visible == f"n{node}"
    assert canvas.selected == cell
    button = next(b for b in window.attention.buttons.buttons() if b.property("mode") == "logits")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert canvas.mode == "logits"
    # a masked cell selects nothing
    masked = canvas.cell_centre(Cell(0, 0, 0, 1)).toPoint()
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=masked)
    assert window.session.selection.node == node


def test_search_and_overview_jump_to_nodes(qtbot, window, settle):
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.search.query.hasFocus()
    qtbot.keyClicks(window.search.query, "op:exp pos:1")
    qtbot.keyClick(window.search.query, Qt.Key.Key_Return)
    settle(window)
    node = window.session.selection.node
    assert node == window.search.results[0]
    assert window.session.trace.op[node] == "exp" and window.session.trace.pos[node] == 1
    qtbot.keyClick(window.search.query, Qt.Key.Key_Return)  # Enter again: the next match
    assert window.session.selection.node == window.search.results[1]
    # a bad query is said in place, no box
    window.search.run("grad>>1")
    assert "cannot" in window.search.status.text() or "not a number" in window.search.status.text()
    # the overview: clicking a dot opens that node
    overview = window.overview
    target = int(window.session.trace.position_loss_nodes[0])
    scene_point = overview.scene_point_of(target)
    assert overview.nearest(scene_point) == target
    view_point = overview.mapFromScene(scene_point)
    # dots overlap at this size: the click picks the dot nearest to the pixel clicked
    expected = overview.nearest(overview.mapToScene(view_point))
    assert expected is not None
    qtbot.mouseClick(overview.viewport(), Qt.MouseButton.LeftButton, pos=view_point)
    settle(window)
    assert window.session.selection.node == expected
    assert window.overview._marker.data["x"][0] == overview.x[expected]


def test_colour_modes_level_and_settings_persist(make_window, settle):
    window = make_window(settings_name="persist.ini")
    window.session.set_colour_by("data")
    assert window.graph.legend.scale.mode == "data"
    window.set_level("vector")
    settle(window)
    assert window.session.view.level == "vector"
    window.training_panel.run_count.setValue(7)
    window.close()  # saves the settings
    again = make_window(settings_name="persist.ini")
    assert again.session.colour_by == "data"
    assert again.graph.colour.currentText() == "data"
    assert again.training_panel.run_count.value() == 7


def test_screenshot_command_writes_the_window_picture(tmp_path, docs, cli, cli_process):
    data = tmp_path / "names.txt"
    data.write_text("\n".join(docs) + "\n")
    out = tmp_path / "shot.png"
    # a process of its own: `gui --screenshot` makes its own QApplication and runs its event loop
    done = cli_process("gui", "--data", data, "--screenshot", out, "--select", "token=1,size=1200x800", timeout=300)
    assert done.returncode == 0, done.stderr
    from PyQt6.QtGui import QImage

    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 800)
    # a bad --select is refused before Qt is touched: in this process
    cli("gui", "--data", data, "--screenshot", out, "--select", "grab=everything").assert_one_line_error("grab")


def test_widgets_run_on_their_own(qtbot, docs):
    """Each dock's widget works without the window: fed plain data, it draws and reports clicks."""
    from core.engine.train import Trainer
    from microgpt_viz.app.docks.attention import AttentionPanel
    from microgpt_viz.app.docks.token_strip import TokenStrip

    trace = Trainer(docs, preset("original")).record()  # the step a new window shows first
    strip = TokenStrip()
    qtbot.addWidget(strip)
    strip.set_trace(trace)
    strip.resize(strip.sizeHint())
    strip.show()
    with qtbot.waitSignal(strip.positionClicked) as blocker:
        qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=strip.cell_rect(None).center().toPoint())
    assert blocker.args == [None]
    panel = AttentionPanel()
    qtbot.addWidget(panel)
    panel.set_trace(trace)
    image = panel.canvas.to_image(scale=1.0)
    assert image.width() > 200 and image.height() > 100


def test_breadcrumb_focus_collapse_by_title_and_text_level_of_detail(qtbot, window, settle):
    session, view = window.session, window.graph.view
    window.go_to_node(int(window.session.trace.attention_nodes[0, 1, 2, 0]))
    settle(window)
    crumbs = window.graph.breadcrumb
    assert crumbs.texts()[1:4] == ["pos2", "layer0", "attn"]
    # clicking a crumb focuses the graph on that scope
    button = crumbs._layout.itemAt(2 * 3).widget()  # root, ›, pos2, ›, layer0, ›, attn
    assert button.text() == "attn"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    settle(window)
    assert session.view.scope == "pos2/layer0/attn"
    shown = session.rendered().nodes
    assert any(n.scope.startswith("pos2/layer0/attn/") for n in shown)
    assert not any(n.scope.startswith(("pos2/layer0/mlp", "pos2/lm_head", "pos2/softmax")) for n in shown)  # downstream of the focus
    # double-clicking the title of an open frame closes it
    group = "pos2/layer0/attn/head1/softmax"
    assert group in session.view.expanded and isinstance(view.item_for(group), ClusterItem)
    frame = view.item_for(group)
    view.centerOn(frame.title_rect().center())
    point = view.mapFromScene(frame.title_rect().center())
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    settle(window)
    assert group not in session.view.expanded
    assert not isinstance(view.item_for(group), ClusterItem)
    # text disappears when zoomed too far out to read, and comes back
    view.zoom(0.1)
    assert not view.text_visible
    some = next(iter(view.nodes.values()))
    assert not some.texts[0].isVisible()
    view.zoom(10)
    assert view.text_visible and some.texts[0].isVisible()


def test_the_window_shows_before_the_first_step_is_recorded(qtbot, make_window, wait_ms):
    window = make_window(start=False)
    window.start()
    assert window.isVisible() and window.session.trace is None
    assert window.training.busy and "recording" in window.training_panel.status.text()
    assert not window.training_panel.step_button.isEnabled()
    window.repaint()  # it can paint while the worker records
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        pass
    qtbot.waitUntil(lambda: not window.training.busy, timeout=wait_ms)
    assert window.session.trace is not None and window.training_panel.step_button.isEnabled()
