import math

import networkx as nx
import numpy as np
import pytest

from core.engine.config import preset
from core.debug.reevaluate import Reevaluator, attention_logit_nodes, what_if
from core.engine.model import step_loss
from core.engine.train import Trainer


@pytest.fixture(scope="module", params=["original", "latest"])
def trainer(request, small_docs):
    trainer = Trainer(small_docs, preset(request.param))
    # a few updates so no matrix is all zeros and every gradient path is live
    for _ in range(3):
        trainer.step()
    return trainer


@pytest.fixture(scope="module")
def trace(trainer):
    return trainer.record("emma")


def fresh_loss_and_param_grads(trainer, doc):
    loss, _ = step_loss(trainer.model, trainer.tokenizer.encode(doc))
    loss.backward()
    grads = [p.grad for p in trainer.params]
    for p in trainer.params:
        p.grad = 0
    return loss.data, grads


def param_value(trainer, trace, node):
    attrs = trace.graph.nodes[node]
    return trainer.model.state_dict[attrs["param"]][attrs["row"]][attrs["col"]]


def test_an_unedited_replay_reproduces_the_trace_bit_for_bit(trace):
    node = trace.param_nodes["lm_head"][0]
    result = what_if(trace, node, trace.data[node])
    assert np.array_equal(result.data, trace.data)
    assert np.array_equal(result.grad, trace.grad)
    assert result.loss_after == trace.loss and result.loss_delta == 0
    assert len(result.changed_nodes()) == 0


@pytest.mark.parametrize("matrix", ["wte", "lm_head", "layer0.attn_wq", "layer0.mlp_fc1", "layer0.mlp_fc2"])
def test_editing_a_parameter_matches_a_fresh_forward_pass(trainer, trace, matrix):
    nodes = np.array(trace.param_nodes[matrix])
    node = int(nodes[np.argmax(np.abs(trace.grad[nodes]))])  # a live entry (some relu units are dead)
    value = param_value(trainer, trace, node)
    new = value.data + 0.05
    result = what_if(trace, node, new)

    original = value.data
    value.data = new
    try:
        fresh_loss, fresh_grads = fresh_loss_and_param_grads(trainer, "emma")
    finally:
        value.data = original
    assert fresh_loss != trace.loss  # the edit really moved the loss
    assert abs(result.loss_after - fresh_loss) <= 1e-12
    assert abs(result.loss_delta - (fresh_loss - trace.loss)) <= 1e-12
    # the recomputed backward agrees with the engine's backward at the edited value
    index = {id(p): i for i, p in enumerate(trainer.params)}
    for name, nodes in trace.param_nodes.items():
        for n in nodes:
            p = param_value(trainer, trace, n)
            assert abs(result.grad[n] - fresh_grads[index[id(p)]]) <= 1e-12, (name, n)


def test_an_edited_intermediate_changes_only_what_lies_downstream(trace):
    node = int(trace.attention_nodes[0, 1, 3, 1])  # layer 0, head 1, query 3, key 1
    result = what_if(trace, node, 0.9)
    downstream = nx.descendants(trace.graph, node) | {node}
    changed_data = set(np.flatnonzero(result.data_delta != 0))
    assert node in changed_data and changed_data <= downstream
    assert result.loss_delta != 0
    assert result.edits == {node: 0.9}
    # nodes computed before the edited one keep their data exactly
    assert np.array_equal(result.data[:node], trace.data[:node])


def test_the_original_trace_is_untouched(trace):
    before_data, before_grad, before_loss = trace.data.copy(), trace.grad.copy(), trace.loss
    node = trace.position_loss_nodes[0]
    Reevaluator(trace).what_if({node: 10.0})
    assert np.array_equal(trace.data, before_data) and np.array_equal(trace.grad, before_grad)
    assert trace.loss == before_loss
    assert not trace.data.flags.writeable


def test_to_trace_matches_a_fresh_recording_at_the_edited_value(trainer, trace):
    node = trace.param_nodes["layer0.attn_wk"][5]
    value = param_value(trainer, trace, node)
    new = value.data - 0.3
    edited = what_if(trace, node, new).to_trace(trace)

    original = value.data
    value.data = new
    try:
        fresh = trainer.record("emma")
    finally:
        value.data = original
    assert edited.num_nodes == fresh.num_nodes and edited.num_edges == fresh.num_edges
    assert abs(edited.loss - fresh.loss) <= 1e-12
    assert np.allclose(edited.position_losses, fresh.position_losses, rtol=0, atol=1e-12)
    assert np.allclose(edited.attention_weights, fresh.attention_weights, rtol=0, atol=1e-12, equal_nan=True)
    assert np.allclose(edited.attention_logits, fresh.attention_logits, rtol=0, atol=1e-12, equal_nan=True)
    params = [n for nodes in trace.param_nodes.values() for n in nodes]
    assert np.allclose(edited.grad[params], fresh.grad[params], rtol=0, atol=1e-12)
    assert edited.graph.nodes[node]["data"] == new
    some_edge = next(iter(edited.graph.edges(keys=True, data="local_grad")))
    assert some_edge[3] == fresh.graph.edges[some_edge[:3]]["local_grad"]


def test_attention_logit_nodes_point_at_the_softmax_inputs(trace):
    nodes = attention_logit_nodes(trace)
    causal = trace.attention_nodes >= 0
    assert np.array_equal(nodes >= 0, causal)
    assert np.array_equal(trace.data[nodes[causal]], trace.attention_logits[causal])


def test_a_planted_nan_flows_down_to_the_loss(trace):
    node = int(trace.attention_nodes[0, 0, 2, 0])
    result = what_if(trace, node, math.nan)
    assert math.isnan(result.loss_after)
    assert math.isnan(result.grad[trace.param_nodes["lm_head"][0]])
    assert node in result.changed_nodes()


def test_overflowing_edits_give_inf_not_an_exception(trace):
    logit = int(attention_logit_nodes(trace)[0, 0, 2, 0])
    result = what_if(trace, logit, 1e6)  # exp overflows
    assert not math.isfinite(result.loss_after)


def test_bad_edits_are_refused(trace):
    r = Reevaluator(trace)
    with pytest.raises(ValueError, match="not in this trace"):
        r.set_node(trace.num_nodes, 1.0)
    with pytest.raises(ValueError, match="not in this trace"):
        r.set_node(-1, 1.0)
    with pytest.raises(ValueError, match="not a number"):
        r.set_node(0, "big")
    with pytest.raises(ValueError, match="no edits"):
        r.what_if({})


def test_the_edited_graph_is_a_faithful_copy(trace):
    node = int(trace.attention_nodes[0, 0, 3, 1])
    result = what_if(trace, node, 0.5)
    edited = result.to_trace(trace)
    expected = nx.MultiDiGraph(trace.graph)  # the slow generic copy, updated attribute by attribute
    for n, attrs in expected.nodes(data=True):
        attrs["data"], attrs["grad"] = float(result.data[n]), float(result.grad[n])
    for _, consumer, slot, attrs in expected.edges(keys=True, data=True):
        attrs["local_grad"] = float(result.local_grads[slot][consumer])
    assert nx.utils.graphs_equal(edited.graph, expected)
    assert sorted(edited.graph.edges(keys=True, data="local_grad")) == sorted(expected.edges(keys=True, data="local_grad"))
    assert list(edited.graph.successors(node)) == list(expected.successors(node))
    assert nx.is_frozen(edited.graph)
    # the source graph keeps its own numbers
    assert trace.graph.nodes[node]["data"] == trace.data[node] != 0.5
