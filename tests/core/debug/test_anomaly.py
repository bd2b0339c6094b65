import json
import math

import numpy as np
import pytest

from core.debug.anomaly import AnomalySettings, check, module_scope
from core.engine.config import preset
from core.debug.reevaluate import attention_logit_nodes, what_if
from core.engine.train import Trainer


@pytest.fixture(scope="module")
def trainer(small_docs):
    trainer = Trainer(small_docs, preset("latest"))
    for _ in range(4):
        trainer.step()
    return trainer


@pytest.fixture(scope="module")
def trace(trainer):
    return trainer.record("olivia")


@pytest.fixture(scope="module")
def report(trace):
    return check(trace)


def test_a_healthy_step_has_no_errors(report):
    assert not report.has_errors
    assert not report.of_kind("nonfinite_data") and not report.of_kind("nonfinite_grad")
    severities = [f.severity for f in report.findings]
    assert severities == sorted(severities, key=("error", "warning", "info").index)


def test_a_planted_nan_is_found_where_it_starts(trace):
    planted = int(trace.attention_nodes[0, 2, 3, 1])
    broken = what_if(trace, planted, math.nan).to_trace(trace)
    report = check(broken)
    assert report.has_errors
    data_finding = report.of_kind("nonfinite_data")[0]
    assert data_finding.severity == "error"
    assert data_finding.nodes[0] == planted
    assert f"#{planted}" in data_finding.message
    assert trace.loss_node in data_finding.nodes
    assert set(data_finding.nodes) == set(np.flatnonzero(np.isnan(broken.data)))
    grad_finding = report.of_kind("nonfinite_grad")[0]
    bad_grads = np.flatnonzero(~np.isfinite(broken.grad))
    assert grad_finding.nodes[0] == bad_grads.max()  # backward meets the highest id first
    assert set(grad_finding.nodes) == set(bad_grads)
    assert report.findings[0].severity == "error"


def test_a_planted_saturated_softmax_is_found(trace, report):
    layer, head, query, key = 0, 1, 4, 2
    target = int(trace.attention_nodes[layer, head, query, key])
    assert not any(f.nodes[0] == target for f in report.of_kind("saturated_softmax"))
    logit = int(attention_logit_nodes(trace)[layer, head, query, key])
    planted = what_if(trace, logit, trace.data[logit] + 30).to_trace(trace)
    assert planted.attention_weights[layer, head, query, key] > 0.99
    found = [f for f in check(planted).of_kind("saturated_softmax") if f.nodes[0] == target]
    assert len(found) == 1
    finding = found[0]
    assert finding.value == planted.attention_weights[layer, head, query, key]
    assert finding.scope == f"pos{query}/layer0/attn/head1/softmax"
    assert f"query {query}" in finding.message and f"key {key}" in finding.message
    assert set(finding.nodes) == set(trace.attention_nodes[layer, head, query, : query + 1])


def test_single_key_attention_rows_are_not_called_saturated(report, trace):
    first_rows = set(trace.attention_nodes[:, :, 0, 0].ravel())
    assert not any(f.nodes[0] in first_rows for f in report.of_kind("saturated_softmax"))


def test_a_planted_dead_unit_is_found(trainer, trace, report):
    alive = {int(f.value) for f in report.of_kind("dead_unit")}
    unit = next(u for u in range(64) if u not in alive)
    row = trainer.model.state_dict["layer0.mlp_fc1"][unit]
    saved = [w.data for w in row]
    for w in row:
        w.data = 0.0  # the unit's input is exactly 0 at every position: relu passes no gradient
    try:
        planted = trainer.record("olivia")
    finally:  # the module's trainer, as the other tests know it
        for w, data in zip(row, saved):
            w.data = data
    found = [f for f in check(planted).of_kind("dead_unit") if f.value == unit]
    assert len(found) == 1
    nodes = found[0].nodes
    assert len(nodes) == planted.positions
    assert [int(planted.pos[n]) for n in nodes] == list(range(planted.positions))
    for n in nodes:
        assert planted.op[n] == "relu" and planted.scope[n].endswith("layer0/mlp/relu")
        (fc1_out,) = planted.graph.predecessors(n)
        assert planted.data[fc1_out] == 0.0
    # exactly the planted unit's relus have an input of exactly zero, so the unit was named right
    zero_input = [n for n, op in enumerate(planted.op) if op == "relu" and planted.data[next(iter(planted.graph.predecessors(n)))] == 0.0]
    assert sorted(zero_input) == sorted(nodes)


def test_dead_relu_counts_per_layer(trace, report):
    (finding,) = report.of_kind("dead_relus")
    relus = [n for n, op in enumerate(trace.op) if op == "relu"]
    dead = [n for n in relus if not trace.data[next(iter(trace.graph.predecessors(n)))] > 0]
    assert sorted(finding.nodes) == dead
    assert finding.value == len(dead) / len(relus)


def test_vanishing_gradients_of_the_zero_initialised_block_are_reported(small_docs):
    # original preset, step 0: attn_wo and mlp_fc2 are zero, so nothing flows into q, k, v or fc1
    trace = Trainer(small_docs, preset("original")).record("olivia")
    report = check(trace)
    vanishing = {f.scope for f in report.of_kind("vanishing_grad")}
    assert {"params/layer0.attn_wq", "params/layer0.attn_wk", "params/layer0.attn_wv", "params/layer0.mlp_fc1"} <= vanishing
    assert "params/lm_head" not in vanishing


def test_layer_gradient_ratios_and_the_exploding_threshold(trace, report):
    rows = report.of_kind("layer_grad") + report.of_kind("vanishing_grad") + report.of_kind("exploding_grad")
    assert {f.scope for f in rows} == {f"params/{m}" for m in trace.param_nodes}
    ratios = sorted(f.value for f in rows)
    assert ratios[len(ratios) // 2] == pytest.approx(1.0)  # the median matrix is the yardstick
    lm = next(f for f in rows if f.scope == "params/lm_head")
    lm_rms = float(np.sqrt(np.mean(trace.grad[list(trace.param_nodes["lm_head"])] ** 2)))
    assert f"{lm_rms:.3e}" in lm.message
    strict = check(trace, AnomalySettings(exploding=lm.value * 0.9))
    assert "params/lm_head" in {f.scope for f in strict.of_kind("exploding_grad")}


def test_largest_grad_per_scope(trace, report):
    rows = report.of_kind("largest_grad")
    by_scope = {}
    for node, path in enumerate(trace.scope):
        by_scope.setdefault(module_scope(path), []).append(node)
    assert {f.scope for f in rows} == set(by_scope)
    for f in rows:
        nodes = by_scope[f.scope]
        assert abs(trace.grad[f.nodes[0]]) == np.max(np.abs(trace.grad[nodes]))
    values = [f.value for f in rows]
    assert values == sorted(values, reverse=True)


def test_tokens_with_the_highest_loss(trace, report):
    rows = report.of_kind("high_loss_token")
    assert len(rows) == 3
    order = np.argsort(trace.position_losses)[::-1][:3]
    assert [f.nodes[0] for f in rows] == [trace.position_loss_nodes[p] for p in order]
    assert [f.value for f in rows] == [trace.position_losses[p] for p in order]


def test_module_scope():
    assert module_scope("pos3/layer0/attn/head2/softmax") == "layer0/attn/head2/softmax"
    assert module_scope("params/wte") == "params/wte"
    assert module_scope("loss") == "loss"
    assert module_scope("pos12/loss") == "loss"


def test_cli_check(cli, small_data):
    result = cli("check", "--data", small_data, "--doc", "olivia", "--preset", "original")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("anomaly report, step 0 on 'olivia' (original): 0 errors, ")
    for section in ("problems:", "dead relus:", "gradient scale per matrix", "largest |grad| per scope", "tokens with the highest loss:"):
        assert section in out
    assert "vanishing gradient in layer0.attn_wq" in out
    as_json = cli("check", "--data", small_data, "--doc", "olivia", "--json", "--top-tokens", "2")
    assert as_json.returncode == 0, as_json.stderr
    findings = json.loads(as_json.stdout)["findings"]
    assert sum(f["kind"] == "high_loss_token" for f in findings) == 2
    assert all(f["nodes"] and all(isinstance(n, int) for n in f["nodes"]) for f in findings)
