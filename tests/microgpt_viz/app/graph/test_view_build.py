"""A new layout's items are made a slice per event-loop turn (microgpt_viz/app/graph/view.py):
the old picture stays whole and usable until the new one replaces it in one go."""
from dataclasses import replace

import pytest

pytest.importorskip("pytestqt")

from PyQt6 import sip  # noqa: E402
from PyQt6.QtCore import QEvent, Qt  # noqa: E402
from PyQt6.QtGui import QColor, QHelpEvent  # noqa: E402
from PyQt6.QtWidgets import QApplication, QGraphicsItem, QToolTip  # noqa: E402

from microgpt_viz.app.graph import view as graph_view  # noqa: E402
from microgpt_viz.app.graph.node_colours import node_fills  # noqa: E402
from microgpt_viz.session.labels import number  # noqa: E402


def closed_group(window):
    return next(n.id for n in window.session.rendered().nodes if n.kind == "group" and n.expandable)


def test_a_new_picture_is_made_over_several_turns_and_replaces_the_old_one_whole(qtbot, window, settle, monkeypatch, wait_ms):
    monkeypatch.setattr(graph_view, "BUILD_SLICE_S", 0.0)  # one item per turn: the slicing shows on any machine
    view = window.graph.view
    old = dict(view.nodes)
    turns_seen = []
    window.toggle_group(closed_group(window))
    qtbot.waitUntil(lambda: view.building, timeout=wait_ms)
    while view.building:  # meanwhile the old picture is the one on screen, every box of it
        turns_seen.append(dict(view.nodes) == old and all(item.scene() is view.scene() for item in old.values()))
        qtbot.wait(1)
    assert len(turns_seen) > 1 and all(turns_seen)
    settle(window)
    rendered = window.session.rendered()
    assert set(view.nodes) == {n.id for n in rendered.nodes} != set(old)
    scene_items = set(view.scene().items())
    assert all(item in scene_items for item in list(view.nodes.values()) + list(view.edges.values()))
    assert len([i for i in scene_items if isinstance(i, graph_view.NodeItem)]) == len(rendered.nodes)


def test_a_click_on_the_old_picture_names_only_boxes_the_new_one_still_has(qtbot, window, settle, monkeypatch, wait_ms):
    monkeypatch.setattr(graph_view, "BUILD_SLICE_S", 0.0)
    view = window.graph.view
    opened = closed_group(window)
    clicked = []
    view.nodeClicked.connect(clicked.append)
    window.toggle_group(opened)
    qtbot.waitUntil(lambda: view.building, timeout=wait_ms)
    kept = next(i for i in view.nodes if i != opened and i in view._build.ids)
    for box in (opened, kept):  # the group being opened is a frame in the new picture, not a box
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.view_point_of(box))
    assert clicked == [kept]
    settle(window)


def test_newer_numbers_for_the_picture_on_its_way_reach_every_box(qtbot, window, settle, monkeypatch, wait_ms):
    monkeypatch.setattr(graph_view, "BUILD_SLICE_S", 0.0)
    view = window.graph.view
    window.toggle_group(closed_group(window))
    qtbot.waitUntil(lambda: view.building, timeout=wait_ms)
    window.choose_colour("data")  # while the new picture is being made
    settle(window)
    fills, _ = node_fills(window.session.rendered(), "data", None)  # what a picture made now would have
    assert {vid: item.colours[0].name() for vid, item in view.nodes.items()} == \
        {vid: fill.name() for vid, (fill, _) in fills.items()}


def test_new_numbers_for_the_boxes_shown_arrive_over_several_turns_and_then_say_so(qtbot, window, settle, monkeypatch, wait_ms):
    monkeypatch.setattr(graph_view, "BUILD_SLICE_S", 0.0)
    view = window.graph.view
    items = dict(view.nodes)
    red = {vid: (QColor("red"), QColor("black")) for vid in view.nodes}
    shown = []
    view.show_graph(window.session.rendered(), view.layout, red, on_shown=lambda: shown.append(view.building))
    turns = 0
    while view.building:
        assert not shown
        qtbot.wait(1)
        turns += 1
    assert turns > 1 and shown == [False]
    assert view.nodes == items  # the same boxes, not new ones
    assert all(item.colours[0] == QColor("red") for item in view.nodes.values())


def test_hovering_a_box_tells_its_numbers(qtbot, window, settle):
    settle(window)
    view = window.graph.view
    inside = view.viewport().rect()
    box, item = next((b, i) for b, i in view.nodes.items() if inside.contains(view.view_point_of(b)))
    point = view.view_point_of(box)
    QApplication.sendEvent(view.viewport(), QHelpEvent(QEvent.Type.ToolTip, point, view.viewport().mapToGlobal(point)))
    assert QToolTip.isVisible()
    assert QToolTip.text() == item.tooltip()
    assert str(item.node.count) in QToolTip.text() or "data " in QToolTip.text()  # its numbers, not an empty tip


def test_a_replaced_picture_is_deleted_a_slice_at_a_time_and_then_its_scene(qtbot, window, settle, monkeypatch, wait_ms):
    monkeypatch.setattr(graph_view, "BUILD_SLICE_S", 0.0)
    monkeypatch.setattr(graph_view, "DELETE_SLICE_S", 0.0)
    view = window.graph.view
    old_scene, old_items = view.scene(), list(view.nodes.values())
    deleted_counts = []  # after every turn of the view's slices, not on a clock (a loaded machine runs many turns per poll)
    view._build_timer.timeout.connect(lambda: deleted_counts.append(sum(map(sip.isdeleted, old_items))))
    window.toggle_group(closed_group(window))
    settle(window)
    assert view.scene() is not old_scene
    qtbot.waitUntil(lambda: sip.isdeleted(old_scene), timeout=wait_ms)
    assert any(0 < count < len(old_items) for count in deleted_counts)  # some gone, some not yet: in slices
    assert all(sip.isdeleted(item) for item in old_items) and not view._discarded
    assert all(not sip.isdeleted(item) for item in view.nodes.values())


def test_edges_are_drawn_by_one_layer_whose_pixels_are_kept_and_hovering_an_edge_still_tells_it(window, settle):
    settle(window)
    view = window.graph.view
    layer = view.edge_layer
    assert layer.cacheMode() == QGraphicsItem.CacheMode.DeviceCoordinateCache  # a Step's repaint copies the lines
    assert all(item.pen().style() == Qt.PenStyle.NoPen for item in view.edges.values())  # the layer draws them instead
    assert layer.path().elementCount() == sum(item.path().elementCount() for item in view.edges.values())
    heads = [item.head for item in view.edges.values() if item.head is not None]
    assert heads and layer.childItems()[0].path().elementCount() == sum(len(head) + 1 for head in heads)  # closed triangles
    inside = view.viewport().rect()

    def hovered_first(item):
        point = view.mapFromScene(item.path().pointAtPercent(0.5))
        tops = [i.topLevelItem() for i in view.items(point)]
        found = next((i for i in tops if isinstance(i, (graph_view.NodeItem, graph_view.EdgeItem))), None)
        return inside.contains(point) and found is item

    item = next(e for e in view.edges.values() if e.tooltip() and hovered_first(e))
    point = view.mapFromScene(item.path().pointAtPercent(0.5))
    QApplication.sendEvent(view.viewport(), QHelpEvent(QEvent.Type.ToolTip, point, view.viewport().mapToGlobal(point)))
    assert QToolTip.isVisible() and QToolTip.text() == item.tooltip()


def test_a_recolouring_reaches_the_boxes_a_slice_per_turn(qtbot, window, settle, monkeypatch):
    settle(window)
    monkeypatch.setattr(graph_view, "BUILD_SLICE_S", 0.0)
    view = window.graph.view
    red = {vid: (QColor("red"), QColor("black")) for vid in view.nodes}
    view.recolour(window.session.rendered(), red)
    reds_per_turn = []
    while view.building:
        reds_per_turn.append(sum(item.colours[0] == QColor("red") for item in view.nodes.values()))
        qtbot.wait(1)
    assert reds_per_turn and reds_per_turn[0] < len(view.nodes)  # not all in the caller's turn
    assert all(item.colours[0] == QColor("red") for item in view.nodes.values())


def test_zoomed_in_a_new_picture_is_shown_with_its_edge_labels_made_in_its_slices(qtbot, window, settle, monkeypatch, wait_ms):
    settle(window)
    trace = window.session.trace
    window.go_to_node(int(trace.attention_nodes[0, 1, 2, 0]))  # single values: edges that carry one local gradient
    settle(window)
    view = window.graph.view
    view.resetTransform()
    view.zoom(1.5)
    assert view.edge_labels_visible
    monkeypatch.setattr(graph_view, "BUILD_SLICE_S", 0.0)
    old = set(view.nodes)
    window.toggle_group(closed_group(window))
    qtbot.waitUntil(lambda: view._build is not None, timeout=wait_ms)
    labelled_before_shown = 0
    while set(view.nodes) == old:
        if view._build is not None:  # the new picture, not yet on screen
            labelled_before_shown = max(labelled_before_shown, sum(e.label is not None for e in view._build.edges.values()))
        qtbot.wait(1)
    labelled = [item for item in view.edges.values() if item.local_grad is not None]
    assert labelled and all(item.label is not None and item.label.isVisible() for item in labelled)
    assert labelled_before_shown > 0  # made in the picture's own slices, not all at once when it was shown
    settle(window)


def in_sight(view, item):
    """Within SIGHT_MARGIN_PX of the viewport, where a Step's numbers are drawn at once."""
    margin = graph_view.SIGHT_MARGIN_PX
    sight = view.viewport().rect().adjusted(-margin, -margin, margin, margin)
    return sight.intersects(view.mapFromScene(item.rect).boundingRect())


def lm_head_close_up(window, settle, zoom):
    """The graph view at `zoom`, showing lm_head's entries as single values (data and grad in each box)."""
    window.go_to_node(int(window.session.trace.param_nodes["lm_head"][40]))
    settle(window)
    view = window.graph.view
    view.resetTransform()
    view.zoom(zoom)
    return view


def with_data_plus_one(rendered):
    return replace(rendered, nodes=[replace(n, data=n.data + 1.0) if n.kind == "value" else n for n in rendered.nodes])


def test_boxes_out_of_sight_take_a_steps_numbers_and_draw_them_when_the_camera_reaches_them(qtbot, window, settle, wait_ms):
    view = lm_head_close_up(window, settle, 2.0)
    rendered = window.session.rendered()
    values = [n for n in rendered.nodes if n.kind == "value" and n.op != "sum"]
    far = next(n for n in values if not in_sight(view, view.nodes[n.id]))
    near = next(n for n in values if in_sight(view, view.nodes[n.id]))
    stepped = with_data_plus_one(rendered)
    red = {vid: (QColor("red"), QColor("black")) for vid in view.nodes}
    far_item, near_item = view.nodes[far.id], view.nodes[near.id]
    far_words = [t.text() for t in far_item.texts]
    view.show_graph(stepped, view.layout, red)
    qtbot.waitUntil(lambda: not view.building, timeout=wait_ms)
    new_node = next(n for n in stepped.nodes if n.id == far.id)
    # the box in sight shows the step at once
    assert near_item.brush().color() == QColor("red")
    assert near_item.texts[1].text() == f"data {number(near.data + 1.0, 4)}"
    # the one out of sight holds it (a click or a tooltip reads it) and has drawn nothing yet
    assert far_item.node is new_node and far_item.colours[0] == QColor("red")
    assert [t.text() for t in far_item.texts] == far_words and far_item.brush().color() != QColor("red")
    view.centre_on(far.id)  # the camera reaches it: it draws what it holds
    assert far_item.brush().color() == QColor("red")
    assert far_item.texts[1].text() == f"data {number(far.data + 1.0, 4)}"


def test_a_step_taken_zoomed_out_writes_its_numbers_when_the_text_is_shown_again(qtbot, window, settle, wait_ms):
    trace = window.session.trace
    window.go_to_node(int(trace.param_nodes["lm_head"][40]))
    settle(window)
    view = window.graph.view
    view.zoom(0.2 / view.transform().m11())  # text too small to read
    assert not view.text_visible
    rendered = window.session.rendered()
    value = next(n for n in rendered.nodes if n.kind == "value" and n.op != "sum" and in_sight(view, view.nodes[n.id]))
    item = view.nodes[value.id]
    view.show_graph(with_data_plus_one(rendered), view.layout, {vid: item.colours for vid, item in view.nodes.items()})
    qtbot.waitUntil(lambda: not view.building, timeout=wait_ms)
    assert item.texts[1].text() == f"data {number(value.data, 4)}"  # hidden, so not written yet
    view.zoom(1.0 / view.transform().m11())
    assert view.text_visible and item.texts[1].text() == f"data {number(value.data + 1.0, 4)}"


def test_a_big_new_picture_shows_its_boxes_first_and_its_edges_a_turn_later(qtbot, window, settle, monkeypatch, wait_ms):
    monkeypatch.setattr(graph_view, "EDGES_DRAWN_LATER", 0)  # every picture counts as big
    view = window.graph.view
    seen = []
    monkeypatch.setattr(view, "_show_built", lambda build, show=view._show_built: (show(build), seen.append(build.edge_layer.isVisible())))
    window.toggle_group(closed_group(window))
    qtbot.waitUntil(lambda: bool(seen), timeout=wait_ms)
    assert seen == [False] and view.edges  # the boxes are on screen, the edges not yet
    qtbot.waitUntil(lambda: view.edge_layer.isVisible(), timeout=wait_ms)
    settle(window)


def test_a_shown_pictures_items_are_out_of_the_collectors_way(window, settle):
    import gc

    settle(window)
    walked = {id(o) for o in gc.get_objects()}  # every generation the collector walks; not the permanent one
    items = list(window.graph.view.nodes.values()) + list(window.graph.view.edges.values())
    assert items and not any(id(item) in walked for item in items)


def test_the_same_picture_under_the_next_steps_node_ids_is_updated_in_place(qtbot, docs, wait_ms):
    from core.engine.config import preset
    from core.engine.train import Trainer
    from core.views.layout import layout_view
    from core.views.view import View

    trainer = Trainer(docs, preset("original"))
    steps = [trainer.record(doc) for doc in ("emma", "sophia")]  # "emma" repeats a letter by position 3: other ids
    renders = [View.for_token(t, 3).expand("params/layer0.attn_wq").expand("pos3/layer0/attn/head1/softmax").render() for t in steps]
    assert {n.id for n in renders[0].nodes} != {n.id for n in renders[1].nodes}
    view = graph_view.GraphView()
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    first = renders[0]
    view.show_graph(first, layout_view(first), node_fills(first, "grad", None)[0])
    qtbot.waitUntil(lambda: not view.building, timeout=wait_ms)
    items = [view.nodes[n.id] for n in first.nodes]
    edge_items = set(view.edges.values())
    second = renders[1]
    layout = layout_view(second)
    assert layout is not view.layout and layout.general is view.layout.general  # one picture, other names
    view.show_graph(second, layout, node_fills(second, "grad", None)[0])
    qtbot.waitUntil(lambda: not view.building, timeout=wait_ms)
    assert [view.nodes[n.id] for n in second.nodes] == items  # the same items, under the new names
    assert all(item.node is n for item, n in zip(items, second.nodes))
    assert set(view.edges.values()) == edge_items
    assert all((item.source, item.target) == key for key, item in view.edges.items())
    assert set(view.edges) == {(e.source, e.target) for e in second.edges}


def test_a_big_pictures_boxes_write_their_words_when_they_first_come_into_sight(qtbot, window, settle, monkeypatch, wait_ms):
    monkeypatch.setattr(graph_view, "WORDS_IN_SIGHT_ONLY", 0)  # every picture counts as big
    view = lm_head_close_up(window, settle, 2.0)
    values = [n for n in window.session.rendered().nodes if n.kind == "value" and n.op != "sum"]
    near = [view.nodes[n.id] for n in values if in_sight(view, view.nodes[n.id])]
    far_node = next(n for n in values if not in_sight(view, view.nodes[n.id]))
    far = view.nodes[far_node.id]
    assert near and all(item.dressed for item in near)
    assert not far.dressed and far.texts == []
    # the box knows its colours without words: a recolour or a Step keeps them for when it shows
    assert far.colours[0] == far.brush().color()
    # zoomed too far out to read, coming into sight writes nothing
    view.zoom(0.2 / view.transform().m11())
    view.centre_on(far_node.id)
    assert not view.text_visible and not far.dressed
    # readable again: the box in sight writes its words, the step's numbers
    view.zoom(1.0 / view.transform().m11())
    view.centre_on(far_node.id)
    assert view.text_visible and far.dressed
    assert [t.text() for t in far.texts] == far.lines()
    assert far.texts[1].text() == f"data {number(far_node.data, 4)}" and all(t.isVisible() for t in far.texts)
    assert far.texts[0].brush().color() == far.colours[1]


def test_a_step_reaches_a_box_that_has_no_words_yet_when_it_comes_into_sight(qtbot, window, settle, monkeypatch, wait_ms):
    monkeypatch.setattr(graph_view, "WORDS_IN_SIGHT_ONLY", 0)
    view = lm_head_close_up(window, settle, 2.0)
    rendered = window.session.rendered()
    far_node = next(n for n in rendered.nodes if n.kind == "value" and n.op != "sum" and not in_sight(view, view.nodes[n.id]))
    far = view.nodes[far_node.id]
    assert not far.dressed
    view.show_graph(with_data_plus_one(rendered), view.layout, {vid: (QColor("red"), QColor("white")) for vid in view.nodes})
    qtbot.waitUntil(lambda: not view.building, timeout=wait_ms)
    assert not far.dressed and far.colours == (QColor("red"), QColor("white"))
    view.centre_on(far_node.id)
    assert far.dressed and far.brush().color() == QColor("red")
    assert far.texts[1].text() == f"data {number(far_node.data + 1.0, 4)}"
    assert far.texts[1].brush().color() == QColor("white")


def test_a_big_pictures_edges_make_their_labels_when_they_first_come_into_sight(qtbot, window, settle, monkeypatch, wait_ms):
    monkeypatch.setattr(graph_view, "WORDS_IN_SIGHT_ONLY", 0)
    view = lm_head_close_up(window, settle, 1.5)
    assert view.edge_labels_visible
    labelled = [item for item in view.edges.values() if item.local_grad is not None]
    view.centerOn(labelled[len(labelled) // 2].path().pointAtPercent(0.5))
    sight = view.mapToScene(view.viewport().rect()).boundingRect()
    # a label sits at the middle of its line, or near it: edges are in sight by their middles
    near = [item for item in labelled if sight.contains(item.path().pointAtPercent(0.5))]
    # out of sight, with no label made (the camera has not been near them since the picture came)
    far = [item for item in labelled if not view._sight_rect().contains(item.path().pointAtPercent(0.5)) and item.label is None]
    assert near and far
    assert all(item.label is not None and item.label.isVisible() for item in near)
    target = far[0]
    view.centerOn(target.path().pointAtPercent(0.5))
    assert target.label is not None and target.label.isVisible()
    assert target.label.childItems()[0].text() == number(target.local_grad, 3)
    view.zoom(0.3)  # too small to read: every label made so far hides, none is made
    assert not view.edge_labels_visible and not any(item.label is not None and item.label.isVisible() for item in labelled)


def test_a_big_picture_gathers_its_waiting_boxes_and_text_obstacles_while_its_items_are_made(qtbot, window, settle, monkeypatch, wait_ms):
    """The turn that shows a big picture only swaps it in: gathering every box's place there (the boxes
    waiting for their words, the text a label must not hide) was a third of that turn."""
    monkeypatch.setattr(graph_view, "WORDS_IN_SIGHT_ONLY", 0)  # every picture counts as big
    view = window.graph.view
    gathered_when_shown, kept_as_gathered = [], []
    real_show = view._show_built

    def show(build):
        gathered_when_shown.append((len(build.words_waiting), {
            vid for vid, item in build.nodes.items() if build.obstacles.hidden_area(item.rect) > 0}))
        real_show(build)
        kept_as_gathered.append(view._obstacles is build.obstacles and view._words_waiting is build.words_waiting)
    monkeypatch.setattr(view, "_show_built", show)
    view.resetTransform()
    view.zoom(2.0)  # labels readable: the first ones are placed in the turn that shows the picture
    window.toggle_group(closed_group(window))
    settle(window)
    waiting, boxes_known = gathered_when_shown[-1]
    assert waiting == len(view.nodes) and boxes_known == set(view.nodes)  # all there before the swap
    assert kept_as_gathered and all(kept_as_gathered)  # never gathered afresh from every item
    assert any(item.label is not None for item in view.edges.values())  # labels were placed with them
