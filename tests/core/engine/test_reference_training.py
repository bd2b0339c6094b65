"""Full training runs on names.txt reproduce microgpt's printed output to every digit."""
import pytest

REFERENCE = {
    "original": (500, ["3.3630", "3.2917", "3.2618"], "2.0859", ["kalia", "ameli", "aayme"]),
    "latest": (1000, ["3.3660", "3.4243", "3.1778"], "2.6497", ["kamon", "ann", "karai"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["original", "latest"])
def test_full_training_run_matches_the_reference(cli, names_path, name):
    steps, first, last, samples = REFERENCE[name]
    result = cli("train", "--data", names_path, "--preset", name)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["num docs: 32033", "vocab size: 27", f"num params: {4064 if name == 'original' else 4192}"]
    step_lines = [l for l in lines if l.startswith("step ")]
    assert len(step_lines) == steps
    assert [l.rsplit(" ", 1)[1] for l in step_lines[:3]] == first
    assert step_lines[-1] == f"step {steps:4d} / {steps:4d} | loss {last}"
    sample_lines = [l for l in lines if l.startswith("sample ")]
    assert len(sample_lines) == 20
    assert [l.split(": ", 1)[1] for l in sample_lines[:3]] == samples
