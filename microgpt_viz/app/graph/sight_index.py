"""Items waiting to come into view, bucketed on a grid of the scene so a camera move finds them fast.

A big picture's boxes wait for the camera with work to do when they come into sight (a Step's
numbers, their words, an edge's label). A pan or a zoom moves the camera many times per
event-loop turn; checking every waiting item each time cost 0.1-0.2 s per turn at 3,700 boxes,
checking the grid cells the window covers costs what the boxes in them do.
"""
from PyQt6.QtCore import QRectF


class SightIndex:
    """key -> item (anything with a `rect`, a QRectF in scene coordinates), by grid cell."""

    CELL = 400.0  # points: a window at reading zoom covers a few cells

    def __init__(self):
        self._items = {}  # key -> item
        self._cells = {}  # (column, row) -> {key: item}

    def __len__(self):
        return len(self._items)

    def __contains__(self, key):
        return key in self._items

    def get(self, key):
        return self._items.get(key)

    def keys(self):
        return list(self._items)

    def _cells_of(self, rect):
        c = self.CELL
        for column in range(int(rect.left() // c), int(rect.right() // c) + 1):
            for row in range(int(rect.top() // c), int(rect.bottom() // c) + 1):
                yield column, row

    def add(self, key, item):
        if key in self._items:
            self.discard(key)
        self._items[key] = item
        for cell in self._cells_of(item.rect):
            self._cells.setdefault(cell, {})[key] = item

    def discard(self, key):
        item = self._items.pop(key, None)
        if item is None:
            return
        for cell in self._cells_of(item.rect):
            bucket = self._cells.get(cell)
            if bucket is not None:
                bucket.pop(key, None)
                if not bucket:
                    del self._cells[cell]

    def take_in(self, rect: QRectF):
        """The (key, item) pairs whose rect meets `rect`, taken out of the index."""
        found = {}
        c = self.CELL
        columns = range(int(rect.left() // c), int(rect.right() // c) + 1)
        rows = range(int(rect.top() // c), int(rect.bottom() // c) + 1)
        if len(columns) * len(rows) > len(self._cells):  # the window covers more cells than hold anything
            cells = [bucket for (column, row), bucket in self._cells.items() if column in columns and row in rows]
        else:
            cells = [self._cells[(column, row)] for column in columns for row in rows if (column, row) in self._cells]
        for bucket in cells:
            for key, item in bucket.items():
                if key not in found and item.rect.intersects(rect):
                    found[key] = item
        for key in found:
            self.discard(key)
        return list(found.items())

    def renamed(self, rename):
        """The same items under rename(key)."""
        index = SightIndex()
        for key, item in self._items.items():
            index.add(rename(key), item)
        return index
