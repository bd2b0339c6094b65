import numpy as np
import pytest

from core.trace import tape as tapes
from core.engine.config import preset
from core.debug.replay import BackwardReplay, grads_at, replay_of
from core.engine.train import Trainer


@pytest.fixture(scope="module", params=["original", "latest"])
def trace(request, small_docs):
    trainer = Trainer(small_docs, preset(request.param))
    trainer.step()
    return trainer.record("ava")


def sequential_backward_snapshots(trace, positions):
    """The engine's backward walked one node at a time, with the grads copied at `positions`."""
    tape = tapes.tape_of(trace)
    grad = [0.0] * tape.size
    grad[tape.loss_node] = 1.0
    snapshots = {0: list(grad)}
    for visited, node in enumerate(range(tape.size - 1, -1, -1), start=1):
        for child, local in ((tape.child0[node], tape.recorded_local0[node]), (tape.child1[node], tape.recorded_local1[node])):
            if child >= 0:
                grad[child] += local * grad[node]
        if visited in positions:
            snapshots[visited] = list(grad)
    return snapshots


def test_the_end_of_the_replay_is_the_recorded_backward_bit_for_bit(trace):
    replay = BackwardReplay(trace)
    assert replay.positions == trace.num_nodes + 1
    assert np.array_equal(replay.grads_at(trace.num_nodes), trace.grad)


def test_the_start_holds_only_the_seeded_loss(trace):
    grads = BackwardReplay(trace).grads_at(0)
    assert grads[trace.loss_node] == 1.0
    assert np.count_nonzero(grads) == 1


def test_every_position_matches_a_step_by_step_backward(trace):
    n = trace.num_nodes
    positions = {1, 2, 3, 17, 500, n // 3, n // 2, n - 2, n - 1}
    snapshots = sequential_backward_snapshots(trace, positions)
    replay = BackwardReplay(trace)
    for k, expected in snapshots.items():
        assert np.array_equal(replay.grads_at(k), np.array(expected)), k


def test_visited_and_complete_masks(trace):
    replay = BackwardReplay(trace)
    n = trace.num_nodes
    for k in (0, 1, 40, n // 2, n):
        visited, complete = replay.visited(k), replay.complete(k)
        assert visited.sum() == k
        assert np.all(complete[visited])  # a node is only visited once its grad is final
        grads = replay.grads_at(k)
        assert np.array_equal(grads[complete], trace.grad[complete])
    assert replay.complete(n).all()
    assert replay.complete(0).sum() == 1 and replay.complete(0)[trace.loss_node]
    # before its last consumer is visited a node's grad is still partial somewhere
    partial = ~replay.complete(n // 2)
    assert partial.any()


def test_node_at_walks_from_the_loss_down(trace):
    replay = BackwardReplay(trace)
    assert replay.node_at(0) == trace.loss_node
    assert replay.node_at(5) == trace.num_nodes - 6
    assert trace.graph.nodes[replay.node_at(7)]["order"] == 7


def test_frames_and_the_export_hook(trace):
    replay = replay_of(trace)
    assert replay_of(trace) is replay
    frames = replay.frames(5)
    assert frames[0] == 0 and frames[-1] == trace.num_nodes and frames == sorted(frames) and len(frames) == 5
    assert np.array_equal(grads_at(trace, frames[2]), replay.grads_at(frames[2]))


def test_out_of_range_positions_are_refused(trace):
    replay = BackwardReplay(trace)
    for bad in (-1, trace.num_nodes + 1):
        with pytest.raises(ValueError, match="out of range"):
            replay.grads_at(bad)
    with pytest.raises(ValueError, match="out of range"):
        replay.node_at(trace.num_nodes)
    with pytest.raises(ValueError, match="at least 2"):
        replay.frames(1)


def test_trace_at_is_a_frame_an_exporter_can_colour(trace):
    from core.debug.replay import trace_at

    k = trace.num_nodes // 2
    frame = trace_at(trace, k)
    assert np.array_equal(frame.grad, grads_at(trace, k))
    assert np.array_equal(frame.data, trace.data) and frame.doc == trace.doc
    causal = trace.attention_nodes >= 0
    assert np.array_equal(frame.attention_weight_grads[causal], frame.grad[trace.attention_nodes[causal]])
    assert np.isnan(frame.attention_weight_grads[~causal]).all()
    end = trace_at(trace, trace.num_nodes)
    assert np.array_equal(end.attention_weight_grads, trace.attention_weight_grads, equal_nan=True)


def test_a_rendered_view_regraded_for_a_backward_position(trace):
    from core.debug.replay import regraded, trace_at
    from core.views.view import View

    view = View.for_token(trace, 1)
    view.expand_to_depth(3)
    rendered = view.render()
    k = trace.num_nodes // 2
    frame = trace_at(trace, k)
    shown = regraded(rendered, frame)
    assert [n.id for n in shown.nodes] == [n.id for n in rendered.nodes] and shown.trace is frame
    grads = frame.grad
    for before, after in zip(rendered.nodes, shown.nodes):
        assert after.max_abs_grad == np.max(np.abs(grads[before.members]))
        if before.grad is not None:
            assert after.grad == grads[before.node]
        assert after.label == before.label and after.data == before.data
    assert shown.node(shown.nodes[0].id) is shown.nodes[0]
    # at the end of backward the picture is the recorded one
    end = regraded(rendered, trace_at(trace, trace.num_nodes))
    assert [(n.grad, n.max_abs_grad) for n in end.nodes] == [(n.grad, n.max_abs_grad) for n in rendered.nodes]
