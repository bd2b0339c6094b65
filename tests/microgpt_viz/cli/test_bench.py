"""`microgpt-viz bench`: the JSON contract (keys and types, not speed) and how steps are timed."""
import json

import numpy as np

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
