"""Every debugging tool on a step recorded from a user's script (no config, maybe no tokens,
no attention tables, ops the tape cannot replay), and `check` / `gradcheck --script`.

The fixtures are the scripts of test_script.py, in the three Value styles, plus micrograd's
tanh MLP (no GPT, no tokens) and a tiny script whose loss is no mean over positions, each
recorded once for this folder (conftest.py).
"""
import json
import textwrap
from dataclasses import replace

import numpy as np
import pytest

from core.debug.anomaly import check
from core.debug.diff import diff
from core.views.export import to_dot
from core.debug.gradcheck import GradChecker, NotReplayable, gradcheck
from core.debug.replay import BackwardReplay, describe_position, trace_at
from core.script.run import record_script
from core.views.search import search
from core.views.view import View
from microgpt_viz.cli.main import main

STYLES = ("tuples", "slots", "micrograd", "mlp", "no_positions")
COMPARABLE = ("nonfinite_data", "nonfinite_grad", "dead_relus", "dead_unit", "layer_grad", "vanishing_grad",
              "exploding_grad", "high_loss_token")  # what does not depend on scope names or attention tables


@pytest.fixture(scope="module")
def traces(script_traces):
    return {style: script_traces(style) for style in STYLES}


def comparable(report):
    return sorted(((f.kind, f.nodes, f.value, f.message) for f in report.findings if f.kind in COMPARABLE), key=lambda r: r[:2])


def test_the_fixtures_are_what_these_tests_need(traces):
    assert all(t.config is None for t in traces.values())
    # attention is found in the three microgpt styles (core/script/attention.py), not in an MLP
    assert {style for style, t in traces.items() if t.attention_nodes.size} == set(STYLES) - {"mlp", "no_positions"}
    assert traces["mlp"].tokens == () and traces["mlp"].positions == 4 and "tanh" in traces["mlp"].op
    assert traces["no_positions"].positions == 0 and traces["no_positions"].tokens == ()


@pytest.mark.parametrize("style", STYLES)
def test_no_tool_trips_over_a_script_trace(traces, style):
    trace = traces[style]
    report = check(trace)
    assert not report.has_errors
    # one gradient-scale row per parameter matrix the script has, whatever its names
    rows = [f for f in report.findings if f.kind in ("layer_grad", "vanishing_grad", "exploding_grad")]
    assert sorted(f.scope for f in rows) == sorted(f"params/{m}" if m else "params" for m in trace.param_nodes)
    assert len(report.of_kind("high_loss_token")) == min(3, trace.positions)
    assert diff(trace, trace).identical
    replay = BackwardReplay(trace)
    assert np.count_nonzero(replay.grads_at(0)) == 1
    np.testing.assert_allclose(replay.grads_at(trace.num_nodes), trace.grad, rtol=1e-12, atol=1e-15)
    assert describe_position(trace, 1).startswith("backward replay: ")
    for view in (View(trace), View(trace, level="scalar" if trace.num_nodes < 1000 else "module")):
        assert "digraph" in to_dot(view.render(), title="t")
        assert "digraph" in to_dot(view.render(), color_by="absgrad")
    if trace.positions:
        assert View.for_token(trace, trace.positions - 1).render().nodes
    assert len(search(trace, "op:+")) == trace.op.count("+")


@pytest.mark.parametrize("style", ["tuples", "slots", "micrograd"])
def test_a_microgpt_scripts_report_is_the_built_in_ones(traces, built_in, style):
    # (b) and (c) record the built-in engine's graph node for node, (a) up to summation order
    ref = built_in("latest" if style == "tuples" else "original")
    mine, theirs = check(traces[style]), check(ref)
    if style == "micrograd":
        assert [r[:2] for r in comparable(mine)] == [r[:2] for r in comparable(theirs)]
        np.testing.assert_allclose([r[2] for r in comparable(mine)], [r[2] for r in comparable(theirs)], rtol=1e-9)
    else:
        assert comparable(mine) == comparable(theirs)
    assert len(comparable(mine)) > 10


def test_a_script_without_tokens_or_positions(traces):
    mlp, tiny = traces["mlp"], traces["no_positions"]
    assert [f.message.split(": ", 1)[1] for f in check(mlp).of_kind("high_loss_token")][0].startswith("the loss is ")
    assert "p =" not in " ".join(f.message for f in check(mlp).of_kind("high_loss_token"))
    (relus,) = check(tiny).of_kind("dead_relus")
    assert relus.value == 1.0 and "1 of 1 relus inactive" in relus.message
    with pytest.raises(ValueError, match="no token positions"):
        View.for_token(tiny, 0)


def test_diff_sees_a_change_in_a_step_the_tape_cannot_replay(traces):
    mlp = traces["mlp"]
    tanh = mlp.op.index("tanh")
    data = mlp.data.copy()
    data[tanh] += 0.5
    result = diff(mlp, replace(mlp, data=data))
    assert result.first_data_divergence.node == tanh and np.flatnonzero(result.data_changed).tolist() == [tanh]


def test_gradcheck_replays_a_script_with_known_ops_and_refuses_others(traces):
    report = gradcheck(traces["tuples"], params=6)
    assert report.passed and len(report.rows) == 6
    assert report.worst.rel_error < 1e-4
    with pytest.raises(NotReplayable, match=r"node #\d+ in pos0/MLP.__call__/Layer.__call__/Neuron.__call__ is a 'tanh'"):
        GradChecker(traces["mlp"])
    tiny = gradcheck(traces["no_positions"], nodes=[0, 1])
    assert tiny.passed and [row.recorded for row in tiny.rows] == [1.0, 0.0]  # d log(relu(ab) + a^2) / da = 2a / a^2


def test_backward_replay_of_a_script_changes_frame_by_frame(traces):
    trace = traces["slots"]
    k = trace.num_nodes // 2
    grads = trace_at(trace, k).grad
    assert 1 < np.count_nonzero(grads) < np.count_nonzero(trace.grad)


# --------------------------------------------------------------------------- the command line


@pytest.mark.parametrize("style, name, extra", [
    ("b", "tuples", True), ("c", "slots", True), ("a", "micrograd", True), ("mlp", "mlp", False),
])
def test_cli_check_script_in_each_style(small_data, scripts, capsys, style, name, extra):
    script = getattr(scripts, name)
    args = ["check", "--script", str(script)] + (["--script-args", str(small_data)] if extra else [])
    assert main(args) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith(f"anomaly report, {script.name}, first backward()") and "0 errors" in first
    assert ("no attention tables for this step" in out) == (style == "mlp")
    assert "gradient scale per matrix" in out and "largest |grad| per scope" in out
    if style == "mlp":
        assert "dead relus: none" in out and "positions with the highest loss:" in out
    else:
        assert "layer0: " in out and "relus inactive" in out and "tokens with the highest loss:" in out
    assert main(args + ["--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["script"] == str(script) and found["findings"]


def patched_tuples(folder, tuples, small_data, patch):
    """The tuples fixture with `patch` run just after its parameters are made: a user's variant."""
    source = tuples.read_text()
    anchor = "params = [p for m in state_dict.values() for row in m for p in row]\n"
    assert anchor in source
    path = folder / "variant.py"
    path.write_text(source.replace(anchor, textwrap.dedent(patch) + anchor))
    return ["check", "--script", str(path), "--script-args", str(small_data)]


def test_cli_check_script_finds_a_dead_unit(tmp_path, scripts, small_data, capsys):
    args = patched_tuples(tmp_path, scripts.tuples, small_data, """
        for w in state_dict["layer0.mlp_fc1"][5]:
            w.data = 0.0
    """)
    assert main(args + ["--json"]) == 0
    dead = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["kind"] == "dead_unit"]
    assert [f["value"] for f in dead] == [5.0]
    assert dead[0]["message"].startswith("layer0.mlp_fc1 unit 5 is dead at every position")


def test_check_script_finds_planted_nan(tmp_path, scripts, small_data, capsys):
    args = patched_tuples(tmp_path, scripts.tuples, small_data, """
        state_dict["lm_head"][0][0].data = float("nan")
    """)
    trace = record_script(args[2], [small_data])
    planted = next(n for n in trace.param_nodes["lm_head"] if trace.graph.nodes[n]["row"] == 0 and trace.graph.nodes[n]["col"] == 0)
    (finding,) = check(trace).of_kind("nonfinite_data")
    assert planted in finding.nodes and finding.severity == "error"
    assert main(args) == 1  # NaN is an error: exit status 1
    assert "nodes hold NaN/Inf data; it starts at #" in capsys.readouterr().out


def test_cli_gradcheck_script(small_data, scripts, capsys):
    assert main(["gradcheck", "--script", str(scripts.tuples), "--script-args", str(small_data), "--params", "3",
                 "--param", "layer0.attn_wq[3][5]"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gradcheck of microgpt_tuples.py, first backward() on ")
    assert "layer0.attn_wq[3][5]" in out and out.rstrip().splitlines()[-1].startswith("ok: 4 of 4")
    assert main(["gradcheck", "--script", str(scripts.mlp)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot check this step" in err and "'tanh'" in err
    assert main(["gradcheck", "--script", str(scripts.mlp), "--at-step", "3"]) == 2
    assert "--at-step does not apply to --script" in capsys.readouterr().err


def test_cli_export_token_of_a_step_without_positions(no_positions_script, capsys):
    assert main(["export", "--script", str(no_positions_script), "--token", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "has no positions" in err
    assert main(["export", "--script", str(no_positions_script)]) == 0
    assert "tiny.py, first backward()" in capsys.readouterr().out
