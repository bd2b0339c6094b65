"""The `microgpt-viz` command line, run in this process: one-line errors, the record and train outputs."""
import json
import os

import pytest


@pytest.fixture
def small_data(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("emma\nolivia\nava\nmia\n")
    return path


def test_bad_inputs(tmp_path, small_data, cli):
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"ren\xe9e\n")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    cases = [
        (["record", "--data", tmp_path / "nope.txt"], "not found"),
        (["record", "--data", tmp_path], "directory"),
        (["record", "--data", empty], "no non-blank lines"),
        (["record", "--data", blank], "no non-blank lines"),
        (["record", "--data", latin], "not UTF-8"),
        (["record", "--data", small_data, "--preset", "newest"], "unknown preset"),
        (["train", "--data", small_data, "--steps", "0"], "must be > 0"),
        (["train", "--data", small_data, "--steps", "-3"], "must be > 0"),
        (["record", "--data", small_data, "--doc", "emmy!"], "outside the vocabulary"),
        (["record", "--data", small_data, "--doc", ""], "empty"),
        (["record", "--data", small_data, "--steps", "5", "--at-step", "5"], "beyond the plan"),
        (["record", "--data", small_data, "-o", tmp_path / "no" / "such" / "dir" / "t.graphml"], "does not exist"),
        (["record", "--data", small_data, "-o", tmp_path], "is a directory"),
        (["record", "--data", small_data, "--n-embd", "10"], "divisible"),
        (["record", "--data", small_data, "--n-layer", "0"], "must be > 0"),
        (["record", "--bogus"], "unrecognized arguments"),
        (["frobnicate"], "invalid choice"),
    ]
    for args, fragment in cases:
        cli(*args).assert_one_line_error(fragment)


def test_unwritable_output_is_refused_before_work(tmp_path, small_data, cli):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    cli("record", "--data", small_data, "-o", locked / "t.graphml").assert_one_line_error("permission denied")


def test_a_write_that_fails_late_leaves_no_partial_file(small_data, cli):
    # /proc refuses new files even for root: the failure surfaces only when writing.
    cli("record", "--data", small_data, "-o", "/proc/microgpt-viz-test.graphml").assert_one_line_error("cannot write")


def test_record_json_and_graphml(tmp_path, small_data, cli):
    out = tmp_path / "t.graphml"
    result = cli("record", "--data", small_data, "--doc", "mia", "--json", "-o", out)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["doc"] == "mia" and summary["positions"] == 4
    assert summary["nodes"] > 1000 and summary["edges"] > summary["nodes"]
    assert out.stat().st_size > 100_000
    assert not list(tmp_path.glob(".*partial"))


def test_input_txt_in_working_directory_wins(tmp_path, cli):
    (tmp_path / "input.txt").write_text("zz\nzzz\n")
    result = cli("record", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["doc"] in ("zz", "zzz")


@pytest.mark.parametrize("name, nodes, edges", [("original", 60095, 107508), ("latest", 59647, 107060)])
def test_record_at_step_zero_matches_the_spec(names_path, cli, name, nodes, edges):
    result = cli("record", "--data", names_path, "--preset", name, "--at-step", "0", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["doc"], summary["nodes"], summary["edges"]) == ("yuheng", nodes, edges)


def test_train_prints_microgpts_lines(small_data, cli):
    result = cli("train", "--data", small_data, "--steps", "3", "--samples", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["num docs: 4", "vocab size: 8", "num params: 3456"]
    assert [l[:16] for l in lines[3:6]] == ["step    1 /    3", "step    2 /    3", "step    3 /    3"]
    assert lines[6].startswith("sample  1: ") and lines[7].startswith("sample  2: ") and len(lines) == 8
