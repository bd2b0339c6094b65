import math

import pytest

from core.engine import autograd
from core.engine.config import preset
from core.debug.gradcheck import GradChecker, gradcheck, param_node, sample_params
from core.debug.reevaluate import attention_logit_nodes
from core.engine.train import Trainer
from microgpt_viz.cli.main import main


def trained_trace(docs, name, steps=3):
    trainer = Trainer(docs, preset(name))
    for _ in range(steps):  # past step 0 no matrix is zero, so every path carries gradient
        trainer.step()
    return trainer.record("olivia")


@pytest.fixture(scope="module")
def first_step(small_docs):
    """The latest preset's step 0 on 'olivia', for the tests that only read it."""
    return trained_trace(small_docs, "latest", steps=0)


def intermediate_nodes(trace):
    """One node of each interesting kind: attention weight and logit, relu, a pow, a log, a loss."""
    pick = [int(trace.attention_nodes[0, 2, 4, 1]), int(attention_logit_nodes(trace)[0, 1, 3, 2])]
    for op in ("relu", "**", "log", "exp"):
        pick.append(next(i for i, o in enumerate(trace.op) if o == op and abs(trace.grad[i]) > 1e-6))
    pick.append(trace.position_loss_nodes[2])
    return pick


@pytest.mark.parametrize("name", ["original", "latest"])
def test_recorded_gradients_pass_on_both_presets(small_docs, name):
    trace = trained_trace(small_docs, name)
    report = gradcheck(trace, nodes=intermediate_nodes(trace), params=60)
    assert len(report.rows) == 67
    assert report.passed, [(r.label, r.rel_error) for r in report.failures]
    judged = [r for r in report.rows if not r.kink]
    assert len(judged) >= 60
    # the check is not vacuous: most checked gradients are far from zero
    assert sum(abs(r.recorded) > 1e-4 for r in judged) > 40
    assert max(r.rel_error for r in judged) < 1e-4


def test_the_sample_covers_every_matrix_and_is_reproducible(small_docs):
    trace = trained_trace(small_docs, "original", steps=0)
    picked = sample_params(trace, 18, seed=3)
    assert len(set(picked)) == 18
    matrices = {trace.graph.nodes[n]["param"] for n in picked}
    assert matrices == set(trace.param_nodes)
    assert picked == sample_params(trace, 18, seed=3)
    assert picked != sample_params(trace, 18, seed=4)


def test_param_node_finds_an_entry_and_refuses_unused_ones(first_step):
    trace = first_step
    node = param_node(trace, "layer0.attn_wq", 3, 5)
    attrs = trace.graph.nodes[node]
    assert (attrs["param"], attrs["row"], attrs["col"]) == ("layer0.attn_wq", 3, 5)
    with pytest.raises(ValueError, match="not used by this step"):
        param_node(trace, "wpe", 15, 0)  # 'olivia' has 7 positions
    with pytest.raises(ValueError, match="no parameter matrix"):
        param_node(trace, "wq", 0, 0)


def _broken_exp(self):
    value = math.exp(self.data)
    return autograd.Value(value, (self,), (1.1 * value,), op="exp")


def _broken_mul(self, other):
    other = other if isinstance(other, autograd.Value) else autograd.Value(other)
    return autograd.Value(self.data * other.data, (self, other), (self.data, other.data), op="*")  # slots swapped


def _broken_pow(self, other):
    return autograd.Value(self.data**other, (self,), (other * self.data**other,), op=f"**{other}")  # k * x**k


@pytest.mark.parametrize("method, broken", [("exp", _broken_exp), ("__mul__", _broken_mul), ("__pow__", _broken_pow)])
def test_a_broken_local_gradient_rule_is_caught(monkeypatch, small_docs, method, broken):
    monkeypatch.setattr(autograd.Value, method, broken)
    trace = trained_trace(small_docs, "latest", steps=0)  # recorded with the broken rule
    report = gradcheck(trace, params=12)
    assert not report.passed
    assert len(report.failures) >= 6
    assert report.worst.rel_error > 1e-2


def test_a_nan_gradient_fails(first_step):
    trace = first_step
    checker = GradChecker(trace)
    row = checker.check_node(trace.param_nodes["lm_head"][0])
    bad = row.__class__(**{**row.__dict__, "rel_error": math.nan})
    assert checker.check([]).failed(bad)


def test_checker_refuses_bad_settings(first_step):
    trace = first_step
    with pytest.raises(ValueError, match="step"):
        GradChecker(trace, step=0)
    with pytest.raises(ValueError, match="not in this trace"):
        GradChecker(trace).check_node(trace.num_nodes)


# --- the command line -------------------------------------------------------------------------


def test_cli_prints_a_table_and_passes(cli, small_data):
    result = cli("gradcheck", "--data", small_data, "--params", "6", "--param", "layer0.attn_wq[3][5]", "--at-step", "2", "--steps", "5")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("gradcheck of step 2 on ")
    rows = [l for l in lines[2:-1]]
    assert len(rows) == 7 and all(l.rstrip().endswith("ok") for l in rows)
    assert "layer0.attn_wq[3][5]" in rows[0]
    assert lines[-1].startswith("ok: 7 of 7 within the tolerance 0.001")


@pytest.mark.parametrize("name", ["original", "latest"])
def test_cli_passes_on_names_txt(cli, names_path, name):
    result = cli("gradcheck", "--data", names_path, "--preset", name, "--params", "12")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "on 'yuheng'" in result.stdout and result.stdout.splitlines()[-1].startswith("ok: ")


def test_cli_exits_1_on_a_broken_rule(monkeypatch, small_data, capsys):
    monkeypatch.setattr(autograd.Value, "exp", _broken_exp)
    status = main(["gradcheck", "--data", str(small_data), "--params", "8", "--preset", "latest"])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAIL" in out and out.splitlines()[-1].startswith("FAILED: ")


def test_cli_tolerance_is_applied(small_data, capsys):
    # a tolerance below the finite difference's own accuracy fails, proving the option is honoured
    status = main(["gradcheck", "--data", str(small_data), "--params", "8", "--preset", "latest", "--tolerance", "1e-14"])
    assert status == 1 and "exceed the tolerance 1e-14" in capsys.readouterr().out


def test_cli_bad_inputs(cli, small_data):
    cli("gradcheck", "--data", small_data, "--param", "wq[1]").assert_one_line_error("MATRIX[row][col]")
    cli("gradcheck", "--data", small_data, "--node", "99999999").assert_one_line_error("not in this step")
    cli("gradcheck", "--data", small_data, "--doc", "mia", "--param", "wpe[7][0]").assert_one_line_error("not used by this step")
    cli("gradcheck", "--data", small_data, "--params", "0").assert_one_line_error("nothing to check")
    cli("gradcheck", "--data", small_data, "--tolerance", "-1").assert_one_line_error("must be > 0")
    cli("gradcheck", "--data", small_data, "--steps", "3", "--at-step", "3").assert_one_line_error("beyond the plan")
