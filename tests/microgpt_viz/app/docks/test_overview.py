"""The overview's dots: rasterised per paint (a million of them), strongest colour bin on top."""
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from core.engine.config import preset  # noqa: E402
from core.engine.train import Trainer  # noqa: E402
from microgpt_viz.app.docks.overview import BACKGROUND, DOT_PX, PIXEL_COLOURS, Overview, rasterise  # noqa: E402
from microgpt_viz.session.overview_positions import bin_of  # noqa: E402


def test_each_pixel_takes_the_strongest_bin_of_the_dots_on_it():
    px, py, bins = np.array([5, 5, 6, 20]), np.array([4, 4, 4, 20]), np.array([2, 5, 1, 3])
    image = rasterise(px, py, bins, width=10, height=8)
    assert image.shape == (8, 10)
    assert image[4, 5] == 6  # bins 2 and 5 on one pixel: 5 wins (pixel value = bin + 1)
    assert image[4, 7] == 2  # only the bin-1 dot at x=6 reaches x=7
    assert image[3:6, 4:7].min() == 6  # a DOT_PX square around the strong dot
    assert image[0, 0] == 0 and image[7, 9] == 0  # nothing there; the dot at (20, 20) is outside
    assert np.count_nonzero(image) == DOT_PX * (DOT_PX + 1)


def test_bins_in_any_order_and_type_give_the_same_picture():
    px, py = np.array([3, 3, 4, 1]), np.array([2, 2, 2, 1])
    unsorted_bytes = rasterise(px, py, np.array([7, 1, 2, 0], dtype=np.uint8), 8, 6)
    assert unsorted_bytes[2, 3] == 8 and unsorted_bytes[2, 5] == 3  # bin 7 beats bin 1 on (3, 2)
    order = [3, 1, 2, 0]  # the same dots in ascending bin order, as int64
    assert (rasterise(px[order], py[order], np.array([0, 1, 2, 7]), 8, 6) == unsorted_bytes).all()


def test_a_square_reaching_in_from_outside_is_drawn():
    image = rasterise(np.array([-1]), np.array([3]), np.array([4]), width=6, height=6)
    assert list(image[2:5, 0]) == [5, 5, 5] and image[:, 1:].max() == 0


def test_the_painted_overview_shows_each_dot_in_its_bins_colour_or_a_stronger_one(shown):
    trace = Trainer(["emma", "olivia", "ava", "mia"], preset("original")).record("olivia")
    overview = shown(Overview(), 700, 260, trace)
    image = overview.grab().toImage()
    ratio = image.devicePixelRatio()
    bins = bin_of(trace.grad)
    colours = PIXEL_COLOURS.tolist()
    checked = 0
    for node in np.linspace(0, trace.num_nodes - 1, 40).astype(int):
        point = overview.mapFromScene(overview.scene_point_of(int(node)))
        argb = image.pixel(int(point.x() * ratio), int(point.y() * ratio)) | 0xFF000000
        assert argb in colours, node  # a dot's colour, not the background
        assert colours.index(argb) - 1 >= bins[node], node  # its own bin or a stronger one on top
        checked += 1
    assert checked == 40
    corner = image.pixelColor(1, 1)
    assert (corner.red(), corner.green(), corner.blue()) == BACKGROUND  # no dot out there


def test_a_repaint_for_the_selection_ring_copies_the_dots_a_pan_places_them_again(shown, monkeypatch):
    from microgpt_viz.app.docks import overview as overview_module

    trace = Trainer(["emma", "olivia", "ava", "mia"], preset("original")).record("olivia")
    placed = []
    real = overview_module.rasterise
    monkeypatch.setattr(overview_module, "rasterise", lambda *args: placed.append(1) or real(*args))
    overview = shown(Overview(), 700, 260, trace)
    before = overview.grab().toImage()
    assert len(placed) >= 1
    count = len(placed)
    overview.mark(trace.num_nodes // 2)
    ringed = overview.grab().toImage()
    assert len(placed) == count  # the same dots, copied
    assert ringed != before  # the ring is drawn
    overview.mark(None)
    assert overview.grab().toImage() == before  # and the copied dots are the ones first placed
    overview.view_box.translateBy(x=(overview.x.max() - overview.x.min()) * 0.05)
    overview.grab()
    assert len(placed) == count + 1  # moved: placed again


def test_a_step_the_worker_prepared_is_taken_in_without_binning_a_dot(qtbot, monkeypatch):
    from microgpt_viz.session import overview_positions

    trace = Trainer(["emma", "olivia", "ava", "mia"], preset("original")).record("olivia")
    prepared = overview_positions.dots(trace)  # as stepping.built_quietly does in the worker
    monkeypatch.setattr(overview_positions, "bin_of", lambda grad: pytest.fail("binned on the GUI thread"))
    overview = Overview()
    qtbot.addWidget(overview)
    overview.set_trace(trace)
    assert overview.cloud.x is prepared.x and overview.cloud.bins is prepared.bins
