import json
import math
from dataclasses import replace

import numpy as np
import pytest

from core.engine.config import preset
from core.debug.diff import ShapeMismatch, _differs, check_same_shape, diff
from core.debug.reevaluate import what_if
from core.engine.train import Trainer


@pytest.fixture(scope="module")
def traces(small_docs):
    trainer = Trainer(small_docs, preset("original"))
    before = trainer.record("olivia")
    for _ in range(3):
        trainer.step()
    return before, trainer.record("olivia")


def test_two_steps_on_the_same_doc(traces):
    a, b = traces
    result = diff(a, b)
    assert result.loss_delta == b.loss - a.loss != 0
    assert np.array_equal(result.data_delta, b.data - a.data)
    assert np.array_equal(result.grad_delta, b.grad - a.grad)
    assert len(result.position_loss_deltas) == a.positions
    assert result.same_doc and not result.identical
    first = result.first_data_divergence
    assert first.node == np.flatnonzero(a.data != b.data)[0]
    assert (first.a, first.b) == (a.data[first.node], b.data[first.node])
    assert a.kind[first.node] == "param"  # training moves parameters; everything else follows
    # every scope appears once, the most changed first
    scopes = [s.scope for s in result.scopes]
    assert len(scopes) == len(set(scopes))
    keys = [max(s.data_change, s.grad_change) for s in result.scopes]
    assert keys == sorted(keys, reverse=True)
    assert sum(s.nodes for s in result.scopes) == a.num_nodes
    assert sum(s.changed for s in result.scopes) == int((result.data_changed | result.grad_changed).sum())


def test_the_first_divergence_is_where_an_edit_was_made(traces):
    a, _ = traces
    node = int(a.attention_nodes[0, 3, 4, 2])
    edited = what_if(a, node, a.data[node] + 0.1).to_trace(a)
    result = diff(a, edited)
    assert result.first_data_divergence.node == node
    assert result.first_data_divergence.b == pytest.approx(a.data[node] + 0.1)
    changed_grads = np.flatnonzero(a.grad != edited.grad)
    assert result.first_grad_divergence.node == changed_grads.max()  # backward meets it first
    edited_scope = next(s for s in result.scopes if s.scope == "layer0/attn/head3/softmax")
    assert edited_scope.changed >= 1


def test_a_diff_of_a_trace_with_itself_is_identical(traces):
    a, _ = traces
    result = diff(a, a)
    assert result.identical
    assert result.first_data_divergence is None and result.first_grad_divergence is None
    assert all(s.changed == 0 for s in result.scopes)


def test_the_tolerance_decides_what_counts_as_a_change(traces):
    a, _ = traces
    node = a.param_nodes["lm_head"][3]
    nudged = what_if(a, node, a.data[node] * (1 + 1e-13)).to_trace(a)
    assert diff(a, nudged).identical
    strict = diff(a, nudged, tolerance=0)
    assert not strict.identical and strict.first_data_divergence.node == node


def test_different_shapes_are_refused(traces, small_docs):
    a, _ = traces
    trainer = Trainer(small_docs, preset("original"))
    with pytest.raises(ShapeMismatch, match="different graphs.*record the same doc"):
        diff(a, trainer.record("emma"))
    relu = Trainer(small_docs, preset("original").with_changes(activation="relu"))
    with pytest.raises(ShapeMismatch, match="models differ"):
        diff(a, relu.record("olivia"))
    # same counts, but one op swapped: the message names the node where the graphs part
    node = next(i for i, op in enumerate(a.op) if op == "+")
    other = replace(a, op=a.op[:node] + ("*",) + a.op[node + 1:])
    with pytest.raises(ShapeMismatch, match=f"part at node #{node}"):
        check_same_shape(a, other)


def test_nan_and_inf_comparisons():
    x = np.array([1.0, math.nan, math.nan, math.inf, math.inf, 1.0, 1.0])
    y = np.array([1.0, math.nan, 2.0, math.inf, -math.inf, math.inf, 1.0 + 1e-12])
    assert list(_differs(x, y, 1e-9)) == [False, False, True, False, True, True, False]
    assert list(_differs(x, y, 0.0)) == [False, False, True, False, True, True, True]


# --- the command line -------------------------------------------------------------------------


def test_cli_diff_of_two_steps(cli, small_data):
    result = cli("diff", "--data", small_data, "--steps", "10", "--a", "step=0", "--b", "step=3", "--top", "4")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "A: original, seed 42, lr 0.01, after 0 of 10 steps"
    assert lines[1] == "B: original, seed 42, lr 0.01, after 3 of 10 steps"
    assert lines[2].startswith("doc ")
    assert any(l.startswith("first data divergence (forward order): #") for l in lines)
    assert any(l.startswith("first grad divergence (backward order): #") for l in lines)
    assert lines[-6].startswith("scopes that changed most") and lines[-5].split()[:2] == ["scope", "nodes"]


def test_cli_diff_specs_and_json(cli, small_data):
    result = cli("diff", "--data", small_data, "--doc", "mia", "--b", "seed=7,lr=0.02", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["doc"] == "mia" and "seed 7, lr 0.02" in summary["b"]
    assert summary["data_changed"] > 0 and summary["same_shape"] is True
    first = summary["first_data_divergence"]
    assert isinstance(first["node"], int) and first["a"] != first["b"] and first["source_a"] == first["source_b"]
    assert summary["max_abs_data_diff"] > 0 and summary["max_abs_grad_diff"] > 0
    same = cli("diff", "--data", small_data, "--b", "step=0")
    assert same.returncode == 0 and "identical" in same.stdout


def test_cli_diff_errors(cli, small_data):
    cli("diff", "--data", small_data, "--b", "preset=latest").assert_one_line_error("different graphs")
    cli("diff", "--data", small_data, "--b", "colour=red").assert_one_line_error("unknown key 'colour'")
    cli("diff", "--data", small_data, "--b", "step").assert_one_line_error("expected key=value")
    cli("diff", "--data", small_data, "--b", "lr=-1").assert_one_line_error("lr must be > 0")
    cli("diff", "--data", small_data, "--b", "preset=newest").assert_one_line_error("unknown preset")
    cli("diff", "--data", small_data, "--b", "step=2,step=3").assert_one_line_error("given twice")
    cli("diff", "--data", small_data, "--steps", "4", "--b", "step=4").assert_one_line_error("beyond the plan")
    cli("diff", "--data", small_data, "--doc", "zoë").assert_one_line_error("outside the vocabulary")
