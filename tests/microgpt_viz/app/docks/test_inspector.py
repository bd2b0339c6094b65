"""The inspector says what a value means in the model when it can: an attention weight's query, key, layer and head."""
import pytest

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
