"""`diff --a script=...`: where does a user's own microgpt first differ from the built-in one?

The tuples fixture is microgpt's `latest` version written from the spec; run unmodified it must
diff to zero against `preset=latest`, and a copy with one wrong backward rule must be caught at
that rule, with its scope and the line of the user's file.
"""
import json
import shutil

import pytest

from core.debug.diff import ShapeMismatch, check_same_shape


@pytest.fixture
def script_folder(scripts, small_data, tmp_path):
    """A folder holding a copy of the tuples script and input.txt, as a user's microgpt folder does."""
    shutil.copy(small_data, tmp_path / "input.txt")
    shutil.copy(scripts.tuples, tmp_path / "my_gpt.py")
    return tmp_path


def diff_json(cli, small_data, *args):
    result = cli("diff", "--data", small_data, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_an_unmodified_copy_diffs_to_zero_against_the_built_in_latest(cli, small_data, script_folder):
    summary = diff_json(cli, small_data, "--a", f"script={script_folder / 'my_gpt.py'}", "--b", "preset=latest")
    assert summary["same_shape"] is True
    assert summary["max_abs_data_diff"] == 0.0 and summary["max_abs_grad_diff"] == 0.0
    assert summary["first_data_divergence"] is None and summary["first_grad_divergence"] is None
    assert summary["a"] == "my_gpt.py, backward() call 1"


def test_a_later_backward_call_lines_up_with_the_built_in_step(cli, small_data, script_folder):
    summary = diff_json(cli, small_data, "--a", f"script={script_folder / 'my_gpt.py'},at_backward=3", "--b", "preset=latest,step=2")
    assert summary["same_shape"] is True and summary["max_abs_grad_diff"] == 0.0
    off_by_one = diff_json(cli, small_data, "--a", f"script={script_folder / 'my_gpt.py'},at_backward=3", "--b", "preset=latest,step=1")
    assert off_by_one["max_abs_data_diff"] > 0


def test_a_wrong_local_gradient_is_found_at_its_op_with_the_users_line(cli, small_data, script_folder):
    script = script_folder / "my_gpt.py"
    source = script.read_text()
    right = "        return Value(e, (self,), (e,))"
    assert source.count(right) == 1
    script.write_text(source.replace(right, "        return Value(e, (self,), (e * 1.5,))  # the bug"))
    # a node's line is where the user's model code makes it: the softmax's call of exp()
    exp_line = 1 + next(i for i, line in enumerate(source.splitlines()) if ".exp()" in line and "def " not in line)

    summary = diff_json(cli, small_data, "--a", f"script={script}", "--b", "preset=latest")
    assert summary["same_shape"] is True
    assert summary["max_abs_data_diff"] == 0.0 and summary["max_abs_grad_diff"] > 0
    local = summary["first_local_grad_divergence"]
    assert local["scope"].endswith("softmax") and local["a"] == pytest.approx(1.5 * local["b"])
    assert local["source_a"] == f"my_gpt.py:{exp_line}" and local["source_b"].startswith("model.py:")
    grad = summary["first_grad_divergence"]
    assert grad["scope"] == local["scope"] and grad["node"] < local["node"]  # backward reaches the exp's argument next
    result = cli("diff", "--data", small_data, "--a", f"script={script}", "--b", "preset=latest")
    assert result.returncode == 0, result.stderr
    found = [l for l in result.stdout.splitlines() if l.startswith("first local gradient that differs")]
    assert len(found) == 1 and " exp: " in found[0] and f"A: my_gpt.py:{exp_line}" in found[0]


def test_different_shapes_say_where_they_part(cli, small_data, script_folder):
    summary = diff_json(cli, small_data, "--a", f"script={script_folder / 'my_gpt.py'}", "--b", "preset=original")
    assert summary["same_shape"] is False
    first = summary["first_shape_difference"]
    assert first["node"] >= 0 and first["scope_a"] and (first["op_a"], first["scope_a"]) != (first["op_b"], first["scope_b"])
    text = cli("diff", "--data", small_data, "--a", f"script={script_folder / 'my_gpt.py'}", "--b", "preset=original")
    text.assert_one_line_error(f"part at node #{first['node']}")


def test_shape_mismatch_carries_the_first_difference(script_traces, built_in):
    with pytest.raises(ShapeMismatch) as info:
        check_same_shape(script_traces("tuples"), built_in("original"))
    assert info.value.first is not None and f"#{info.value.first.node}" in str(info.value)


@pytest.mark.parametrize("spec, fragment", [
    ("script=x.py,preset=latest", "preset cannot go with script="),
    ("at_backward=2", "at_backward needs script=PATH"),
    ("script=x.py,at_backward=0", "at_backward must be > 0"),
])
def test_script_spec_mistakes_are_one_line_errors(cli, small_data, spec, fragment):
    cli("diff", "--data", small_data, "--a", spec).assert_one_line_error(fragment)


def test_a_missing_script_is_a_one_line_error(cli, small_data, tmp_path):
    cli("diff", "--data", small_data, "--a", f"script={tmp_path / 'nope.py'}").assert_one_line_error("script not found")
