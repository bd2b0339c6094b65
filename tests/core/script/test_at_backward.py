"""Recording a later step of a user's script: the K-th backward() call (core/script/run.py, child.py).

The steps before the K-th run as the script wrote them, unrecorded; the recorded step must be the
one the script itself computes, so its loss is the one the script prints for step K, and for the
microgpt-from-the-spec script the whole graph equals the built-in engine's after K-1 updates.
"""
import json
import re
import subprocess
import sys

import pytest

from core.engine.config import preset
from core.engine.data import load_docs
from core.engine.train import Trainer
from core.script.run import ScriptError, record_script
from tests.core.script.test_script import assert_same_step

K = 5


def script_args(style, small_data):
    """Arguments that make each fixture script train for at least K steps on the nine names."""
    return {
        "tuples": [str(small_data), str(K + 1)],
        "slots": ["--steps", str(K + 1), str(small_data)],
        "micrograd": [str(small_data)],
    }[style]


def printed_losses(script, args, cwd, upto):
    """step number -> the loss the script prints for it, for steps 1..upto, as `python SCRIPT ARGS` prints them."""
    losses = {}
    with subprocess.Popen([sys.executable, str(script), *args], cwd=cwd, stdout=subprocess.PIPE, text=True) as child:
        for line in child.stdout:
            found = re.match(r"step\s+(\d+) /\s*\d+ \| loss (\S+)", line)
            if found:
                losses[int(found[1])] = float(found[2])
            if len(losses) == upto:
                child.kill()  # the micrograd-style fixture would train on for 500 steps
                break
    return losses


@pytest.fixture(scope="module")
def fifth_steps(scripts, small_data):
    return {style: record_script(getattr(scripts, style), script_args(style, small_data), at_backward=K)
            for style in ("tuples", "slots", "micrograd")}


@pytest.mark.parametrize("style", ["tuples", "slots", "micrograd"])
def test_the_kth_backward_has_the_loss_the_script_prints_for_step_k(style, fifth_steps, scripts, small_data, tmp_path):
    losses = printed_losses(getattr(scripts, style), script_args(style, small_data), tmp_path, upto=K)
    assert f"{fifth_steps[style].loss:.4f}" == f"{losses[K]:.4f}"
    assert f"{fifth_steps[style].loss:.4f}" != f"{losses[1]:.4f}"


def test_the_kth_backward_of_microgpt_from_the_spec_is_the_built_in_step_k_minus_1(fifth_steps, small_data):
    trainer = Trainer(load_docs(small_data), preset("latest", num_steps=K + 1))  # the script's schedule
    for _ in range(K - 1):
        trainer.step()
    assert_same_step(fifth_steps["tuples"], trainer.record())


def test_a_script_that_stops_before_the_kth_backward_says_how_far_it_got(scripts, small_data):
    with pytest.raises(ScriptError) as info:
        record_script(scripts.tuples, [str(small_data), "3"], at_backward=K)
    assert info.value.kind == "finished"
    assert "after 3 backward() calls, before its 5th backward()" in str(info.value)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_at_backward_counts_from_one(scripts, bad):
    with pytest.raises(ValueError, match="counts backward"):
        record_script(scripts.tuples, at_backward=bad)


def test_record_at_backward_from_the_command_line(cli, scripts, small_data, fifth_steps):
    result = cli("record", "--script", scripts.tuples, "--script-args", f"{small_data} {K + 1}", "--at-backward", K, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["at_backward"] == K
    assert summary["loss"] == fifth_steps["tuples"].loss


def test_at_backward_zero_is_refused_in_one_line(cli, scripts):
    cli("record", "--script", scripts.tuples, "--at-backward", 0).assert_one_line_error("--at-backward")
