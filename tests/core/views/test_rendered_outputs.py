"""A scope box's `N values`: how many of its members are used outside it, or by nothing, counted
for every box at once from one flag per node; checked here against the definition, box by box."""
import numpy as np
import pytest

from core.engine.config import preset
from core.engine.train import Trainer
from core.trace.index import SCOPE, index_of
from core.views.view import View


def handed_on(trace, group_id, members):
    """The definition: members with a consumer outside the group's scope, or with no consumer."""
    ix = index_of(trace)
    number = ix.group_number[group_id]
    depth = ix.groups[number].depth
    count = 0
    for m in members.tolist():
        consumers = ix.dst[ix.output_edges(m)]
        if not len(consumers) or (ix.paths[consumers, depth] != number).any():
            count += 1
    return count


@pytest.fixture(scope="module")
def two_layer_trace(small_docs):
    return Trainer(small_docs, preset("latest", n_layer=2, n_embd=8, n_head=2)).record("isabella")


@pytest.mark.parametrize("make", [
    lambda trace: View(trace),
    lambda trace: View.for_token(trace, 3),
    lambda trace: View.for_token(trace, 4).expand("pos4/layer1").expand("pos4/layer1/attn"),
    lambda trace: View.for_token(trace, 2).focus("pos2/layer0/mlp"),
])
def test_every_scope_box_hands_on_what_the_definition_counts(two_layer_trace, make):
    view = make(two_layer_trace)
    ix = index_of(two_layer_trace)
    checked = 0
    for node in view.render().nodes:
        number = ix.group_number.get(node.id)
        if node.kind != "group" or number is None or ix.groups[number].kind != SCOPE or ix.scope_has_child_scope[number]:
            assert node.outputs == 0
            continue
        assert node.outputs == handed_on(two_layer_trace, node.id, np.asarray(node.members)), node.id
        checked += 1
    assert checked > 0
