"""The source view: the model's own code with the line that created the selected value highlighted."""
import os
from pathlib import Path

from PyQt6.QtGui import QColor, QFont, QTextCursor, QTextFormat
from PyQt6.QtWidgets import QLabel, QPlainTextEdit, QTextEdit, QVBoxLayout, QWidget

import core.engine.model

HIGHLIGHT = QColor(255, 236, 160)


class SourceView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.path = None
        self.line = None
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.text.setFont(font)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.caption)
        layout.addWidget(self.text)
        self.show_file(core.engine.model.__file__)

    def show_file(self, path):
        path = str(Path(path).resolve())
        if path == self.path:
            return
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as e:
            self.text.setPlainText(f"cannot read {path}: {e.strerror or e}")
            self.path = None
            return
        width = len(str(len(lines)))
        self.text.setPlainText("\n".join(f"{n:>{width}}  {line}" for n, line in enumerate(lines, start=1)))
        self.path = path
        self.line = None
        self.caption.setText(os.path.basename(path))

    def show_line(self, path, line, why=""):
        """Open `path` (the model code when empty) and highlight `line` (1-based)."""
        self.show_file(path or core.engine.model.__file__)
        self.line = line
        selection = QTextEdit.ExtraSelection()
        selection.format.setBackground(HIGHLIGHT)
        selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
        block = self.text.document().findBlockByNumber(max(0, line - 1))
        cursor = QTextCursor(block)
        selection.cursor = cursor
        self.text.setExtraSelections([selection])
        self.text.setTextCursor(cursor)
        self.text.centerCursor()
        name = os.path.basename(self.path or "")
        self.caption.setText(f"{name}, line {line}" + (f": {why}" if why else ""))

    def clear_highlight(self, why=""):
        self.line = None
        self.text.setExtraSelections([])
        self.caption.setText(os.path.basename(self.path or "") + (f": {why}" if why else ""))

    def highlighted_text(self):
        """The text of the highlighted line (without its number), or None."""
        if self.line is None:
            return None
        block = self.text.document().findBlockByNumber(self.line - 1)
        return block.text().lstrip().partition("  ")[2]
