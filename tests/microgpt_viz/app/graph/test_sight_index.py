"""SightIndex (microgpt_viz/app/graph/sight_index.py): a camera move takes exactly the waiting items it reaches."""
import random
from types import SimpleNamespace

import pytest

pytest.importorskip("PyQt6")

from PyQt6.QtCore import QRectF  # noqa: E402

from microgpt_viz.app.graph.sight_index import SightIndex  # noqa: E402


def boxes(count, seed=7):
    rng = random.Random(seed)
    return {f"n{k}": SimpleNamespace(rect=QRectF(rng.uniform(-500, 5000), rng.uniform(-500, 3000), rng.uniform(5, 900), rng.uniform(5, 300)))
            for k in range(count)}


@pytest.mark.parametrize("sight", [QRectF(0, 0, 800, 600), QRectF(-1000, -1000, 8000, 6000), QRectF(2100, 900, 1, 1), QRectF(9000, 9000, 10, 10)])
def test_take_in_returns_exactly_the_items_that_meet_the_rect_and_forgets_them(sight):
    items = boxes(400)
    index = SightIndex()
    for key, item in items.items():
        index.add(key, item)
    taken = dict(index.take_in(sight))
    assert set(taken) == {key for key, item in items.items() if item.rect.intersects(sight)}
    assert len(index) == len(items) - len(taken)
    assert not any(key in index for key in taken)
    assert index.take_in(sight) == []  # taken once only
    everything = dict(index.take_in(QRectF(-10_000, -10_000, 30_000, 30_000)))
    assert set(everything) == set(items) - set(taken) and len(index) == 0


def test_discard_add_again_and_rename():
    items = boxes(50)
    index = SightIndex()
    for key, item in items.items():
        index.add(key, item)
    index.discard("n3")
    index.discard("n3")  # twice is harmless
    index.add("n4", items["n4"])  # again: still one entry
    assert len(index) == 49 and "n3" not in index and index.get("n4") is items["n4"]
    renamed = index.renamed(lambda key: key.upper())
    assert set(renamed.keys()) == {key.upper() for key in items if key != "n3"}
    whole = QRectF(-10_000, -10_000, 30_000, 30_000)
    assert {key for key, _ in renamed.take_in(whole)} == {key.upper() for key in items if key != "n3"}
