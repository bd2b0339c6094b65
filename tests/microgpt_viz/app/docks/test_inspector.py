"""The inspector says what a value means in the model when it can: an attention weight's query, key, layer and head."""
import pytest

from microgpt_viz.session.labels import number

pytest.importorskip("pytestqt")


def test_a_clicked_attention_weight_names_its_query_key_layer_and_head(window, settle):
    trace = window.session.trace
    layer, head, query, key = 0, 2, 3, 1
    window.select_attention_cell(layer, head, query, key)
    settle(window)
    inspector = window.inspector
    assert inspector.node == int(trace.attention_nodes[layer, head, query, key])
    labels = trace.token_labels
    assert inspector.role.isVisibleTo(inspector)
    assert inspector.role.text() == (
        f"attention weight: query pos {query} ({labels[query]!r}) → key pos {key} ({labels[key]!r}), layer {layer}, head {head}"
    )
    # any other value: no such line
    window.go_to_node(int(trace.position_loss_nodes[query]))
    settle(window)
    assert not inspector.role.isVisibleTo(inspector) and inspector.role.text() == ""


def test_the_fields_are_filled_in_place_from_value_to_value_and_say_each_ones_own(window, settle, qtbot):
    trace = window.session.trace
    inspector = window.inspector
    param = int(trace.param_nodes["lm_head"][40])
    window.go_to_node(param)
    settle(window)
    fields = inspector.node_fields
    labels = dict(fields.labels)
    assert fields.isVisibleTo(inspector) and not inspector.group_fields.isVisibleTo(inspector)
    assert fields.text("data") == number(float(trace.data[param]), 10)
    assert fields.text("parameter") is not None and fields.text("source") is None  # a weight is made by no line
    made = next(n for n in range(trace.num_nodes) if trace.node_attributes(n)["file"] and trace.pos[n] >= 0)
    window.go_to_node(made)
    settle(window)
    assert fields.labels == labels and all(fields.labels[k] is labels[k] for k in labels)  # the same labels, refilled
    shown = [label for label in fields.labels.values() if not label.isHidden()]
    assert all(label.height() >= label.fontMetrics().height() for label in shown)  # no row squeezed by the tables
    attrs = trace.node_attributes(made)
    assert fields.text("grad").startswith(number(float(trace.grad[made]), 10))
    assert fields.text("parameter") is None and fields.text("position").startswith(f"{attrs['pos']}: reads")
    with qtbot.waitSignal(inspector.sourceClicked) as clicked:
        fields.labels["source"].linkActivated.emit("#")
    assert clicked.args == [attrs["file"], attrs["line"]]
    group = next(n for n in window.session.rendered().nodes if n.kind == "group")
    window.select_box(group.id)
    settle(window)
    assert inspector.group_fields.isVisibleTo(inspector) and not fields.isVisibleTo(inspector)
    assert inspector.group_fields.text("group") == group.id and inspector.group_fields.text("values") == str(group.count)
    # packed under the title, not spread over the room the hidden tables leave
    assert inspector.group_fields.geometry().top() - inspector.title.geometry().bottom() < 20
