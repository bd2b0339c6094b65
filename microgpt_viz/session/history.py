"""Back / forward navigation like a browser's, over plain location records. No Qt here."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    position: object = None  # token position whose loss cone is shown, None for the whole step
    node: object = None  # selected node id, None when nothing is selected
    focus: str = ""  # scope path the graph view is zoomed into ("" = everything in the view)


class History:
    """A list of locations with a cursor; visiting a new place drops the forward part."""

    def __init__(self, limit=200):
        self.limit = limit
        self.entries = []
        self.index = -1

    @property
    def current(self):
        return self.entries[self.index] if self.entries else None

    def visit(self, location):
        if self.current == location:
            return
        del self.entries[self.index + 1 :]
        self.entries.append(location)
        if len(self.entries) > self.limit:
            del self.entries[0]
        self.index = len(self.entries) - 1

    def replace(self, location):
        """Change the current entry in place (e.g. a selection the view had to drop)."""
        if self.entries:
            self.entries[self.index] = location
        else:
            self.visit(location)

    def can_back(self):
        return self.index > 0

    def can_forward(self):
        return self.index < len(self.entries) - 1

    def back(self):
        if self.can_back():
            self.index -= 1
        return self.current

    def forward(self):
        if self.can_forward():
            self.index += 1
        return self.current
