"""microgpt_viz/app/perf.py measures what it says (the figures themselves belong to the benchmark)."""
import pytest

pytest.importorskip("pytestqt")

from core.engine.config import preset  # noqa: E402
from core.engine.train import Trainer  # noqa: E402
from microgpt_viz.app import perf  # noqa: E402
from microgpt_viz.session import stepping

DOCS = ["emma", "olivia", "ava", "isabella", "sophia", "mia"]


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\n".join(DOCS) + "\n")
    return path


def test_overview_paint_times_a_first_paint_and_a_repaint(qapp):
    trace = stepping.record_next(Trainer(DOCS, preset("original")))
    first, repaint = perf.overview_paint_s(trace)
    assert 0 < first < 60 and 0 < repaint < 60


def test_stall_profile_runs_the_real_window(qapp, data):
    profile = perf.gui_stall_profile(steps=3, data=data)
    assert profile["steps"] == 3
    assert profile["max_stall_ms"] >= profile["training_stall_ms"] > 0
    assert profile["max_stall_ms"] >= profile["apply_ms"] >= 0
    assert profile["seconds"] > 0


def test_start_to_first_paint_spawns_the_app(data):
    seconds = perf.app_start_to_first_paint_s(data=data)
    assert 0 < seconds < 300
