"""`microgpt-viz bench`: the JSON contract (keys and types, not speed) and how steps are timed."""
import json

import numpy as np
import pytest

from core import bench
from core.engine.config import preset
from core.engine.train import Trainer

KEYS = [
    "plain_step_s", "record_step_s", "record_over_plain_step", "fast_forward_speedup",
    "fast_forward_max_abs_loss_diff", "view_expand_layout_s", "overview_first_paint_s",
    "overview_repaint_s", "app_start_to_first_paint_s", "record_peak_rss_mb", "gui_max_stall_ms",
]
DOCS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn"]


def test_bench_json_has_exactly_the_issue_keys(tmp_path, cli):
    data = tmp_path / "names.txt"
    data.write_text("\n".join(DOCS) + "\n")
    # --quick: core.bench.QUICK, fewer repeats and steps; the keys and types are what is checked here
    done = cli("bench", "--json", "--quick", "--data", data, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1  # one JSON object, nothing else on stdout
    figures = json.loads(lines[0])
    assert list(figures) == KEYS
    for key, value in figures.items():
        assert value is None or (isinstance(value, float) and np.isfinite(value)), key
    # the Qt-free figures cannot be missing
    for key in ("plain_step_s", "record_step_s", "record_over_plain_step", "fast_forward_speedup", "fast_forward_max_abs_loss_diff", "record_peak_rss_mb"):
        assert figures[key] is not None, key
    assert figures["record_over_plain_step"] == figures["record_step_s"] / figures["plain_step_s"]


def test_timed_steps_leave_the_trainer_as_it_was():
    trainer = Trainer(DOCS, preset("original"))
    trainer.step()
    params, m, losses = [p.data for p in trainer.params], list(trainer.adam_m), list(trainer.losses)
    costs = bench.step_costs(trainer, repeats=2)
    assert costs["plain_step_s"] > 0 and costs["record_step_s"] > 0 and costs["release_trace_s"] >= 0
    assert trainer.step_index == 1 and trainer.losses == losses
    assert [p.data for p in trainer.params] == params and trainer.adam_m == m
    speedup, diff, scalar_s, fast_s = bench.fast_forward_figures(trainer, 4)
    assert speedup == scalar_s / fast_s and diff <= 1e-9
    assert [p.data for p in trainer.params] == params and trainer.step_index == 1


def test_the_overview_doc_fills_the_context():
    trainer = Trainer(DOCS, preset("latest"))
    doc = bench.longest_doc(trainer)
    assert len(trainer.tokenizer.encode(doc)) - 1 >= trainer.config.block_size


SIZE_KEYS = ["bytes_per_value_recorded", "big_record_s", "big_record_peak_mb", "big_app_first_paint_s", "big_app_peak_mb"]


def test_bench_size_reports_the_size_figures_and_a_row_per_layer_count(tmp_path, cli):
    data = tmp_path / "names.txt"
    data.write_text("\n".join(DOCS) + "\n")
    done = cli("bench", "--size", "--json", "--data", data, "--n-layer", "2", "--n-embd", "8", "--n-head", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert list(figures)[:5] == SIZE_KEYS and figures["preset"] == "latest"
    for key in SIZE_KEYS:
        assert isinstance(figures[key], float) and figures[key] > 0, key
    one, two = figures["by_layers"]
    assert (one["n_layer"], two["n_layer"]) == (1, 2) and one["n_embd"] == two["n_embd"] == 8
    assert one["doc"] == two["doc"] == bench.longest_doc(Trainer(DOCS, preset("latest")))  # no 'christopher' here
    assert two["values"] > one["values"] and two["app_values"] > one["app_values"]
    # the big figures are the last row's
    assert figures["big_record_peak_mb"] == two["record_peak_mb"] and figures["big_app_peak_mb"] == two["app_peak_mb"]
    assert figures["bytes_per_value_recorded"] == two["bytes_per_value"]


def test_a_fresh_child_reports_its_own_peak_not_its_parents():
    ballast = bytearray(400 * 2**20)
    ballast[::4096] = b"\x01" * len(ballast[::4096])  # touched: resident in this process
    code = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
    import sys
    done = bench.run_fresh([sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 200  # a bare interpreter, not this process's 400+ MB
    del ballast


def test_bench_size_checks_the_size_like_every_command(tmp_path, cli):
    data = tmp_path / "names.txt"
    data.write_text("\n".join(DOCS) + "\n")
    done = cli("bench", "--size", "--data", data, "--n-embd", "10", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == "microgpt-viz: error: n_embd (10) must be divisible by n_head (4)"


SOAK_KEYS = ["soak_steps", "soak_rss_after_50_mb", "soak_rss_end_mb", "app_step_median_s", "soak_max_stall_ms", "soak_errors"]


def test_soak_option_reports_the_soak_figures(tmp_path, monkeypatch):
    pytest.importorskip("pytestqt")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    from microgpt_viz.cli import bench as bench_command
    from microgpt_viz.cli.main import build_parser

    data = tmp_path / "names.txt"
    data.write_text("\n".join(DOCS) + "\n")
    args = build_parser().parse_args(["bench", "--soak", "3", "--data", str(data), "--n-embd", "8", "--n-head", "2"])
    figures = bench_command.soak_figures(args)
    assert list(figures) == SOAK_KEYS == list(bench_command.SOAK_FIGURES)
    assert figures["soak_steps"] == 3.0 and figures["soak_errors"] == 0.0
    for key, value in figures.items():
        assert isinstance(value, float) and np.isfinite(value) and value >= 0, key


def test_soak_needs_a_positive_number_of_steps(cli):
    done = cli("bench", "--soak", "0")
    assert done.returncode == 2 and "--soak" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
