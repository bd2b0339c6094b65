"""The real main window for the app tests, driven offscreen with pytest-qt.

Fixtures: `docs` (the small training set), `wait_ms` (how long any wait may take before the
test fails), `boxes` (message boxes recorded instead of shown), `events` (counts a type of Qt
event some widgets receive), `make_window` (a factory:
a window that has recorded and laid out its first step), `window` (one such window) and
`settle` (wait until training and layout are idle and the graph shows the current view).

Every window made here is closed and its Qt objects deleted when its test ends; its Python
side, frozen by the app, is collected between tests (tests/microgpt_viz/conftest.py).
"""
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import QEvent, QObject, QSettings  # noqa: E402
from PyQt6.QtWidgets import QApplication, QMessageBox  # noqa: E402

DOCS = ("emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail")
WAIT_MS = 60000


@pytest.fixture
def docs():
    """The ten names the windows train on (a fresh list each test: no test can change another's)."""
    return list(DOCS)


@pytest.fixture(scope="session")
def wait_ms():
    """The longest any wait for the app may take before the test fails (a failure bound, not a speed figure)."""
    return WAIT_MS


@pytest.fixture
def shown(qtbot):
    """shown(widget, width, height, trace=None) -> widget: a dock's widget on its own, sized, given
    the trace (if any) and drawn on screen."""
    def show(widget, width, height, trace=None):
        qtbot.addWidget(widget)
        widget.resize(width, height)
        widget.show()
        if trace is not None:
            widget.set_trace(trace)
        qtbot.waitExposed(widget)
        return widget
    return show


class EventCount(QObject):
    """How many events of one type the widgets it watches have received (count, settable)."""

    def __init__(self, event_type, widgets):
        super().__init__()
        self.event_type, self.count = event_type, 0
        for widget in widgets:
            widget.installEventFilter(self)

    def eventFilter(self, watched, event):
        if event.type() == self.event_type:
            self.count += 1
        return False


@pytest.fixture
def events():
    """events(QEvent.Type.X, *widgets) -> EventCount: counts the events of that type they receive."""
    counters = []

    def count(event_type, *widgets):
        counters.append(EventCount(event_type, widgets))
        return counters[-1]
    return count


@pytest.fixture
def boxes(monkeypatch):
    """Every message box the app shows, recorded as (title, text) instead of blocking the test."""
    shown = []

    def warning(parent, title, text, *args, **kwargs):
        shown.append((title, text))
        return QMessageBox.StandardButton.Ok

    real_open = QMessageBox.open

    def open_box(box, *args):  # a box with details or choices opens without blocking: record it, keep it open
        shown.append((box.windowTitle(), box.text()))
        return real_open(box, *args)

    monkeypatch.setattr(QMessageBox, "warning", staticmethod(warning))
    monkeypatch.setattr(QMessageBox, "open", open_box)
    return shown


def _settle(qtbot, window):
    def done():
        rendered = window.session.rendered_if_ready()  # rendering here would take the layout worker's work
        return (not window.training.busy and not window.graphviz.busy and not window.graph.view.building
                and rendered is not None and set(window.graph.view.nodes) == {n.id for n in rendered.nodes})
    qtbot.waitUntil(done, timeout=WAIT_MS)


@pytest.fixture
def settle(qtbot):
    """settle(window): wait until training and layout are idle and the graph shows the session's current view."""
    return lambda window: _settle(qtbot, window)


def dispose(windows):
    """Close `windows` and delete their Qt objects now (processEvents alone never runs a deleteLater)."""
    for window in windows:
        window.close()  # saves the settings and stops the worker threads
        window.deleteLater()
    windows.clear()
    app = QApplication.instance()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    app.processEvents()


@pytest.fixture
def make_window(qtbot, tmp_path, boxes, docs):
    """make_window(docs=None, config=None, settings_name="settings.ini", start=True) -> MainWindow.

    A 1400x900 window on a Trainer of `docs` (default: the `docs` fixture) and `config`
    (default: the `original` preset), settings in tmp_path/settings_name. With start=True it
    has recorded its first step and laid out the graph; with start=False it is shown but
    not started. Windows made here are disposed of when the test ends.
    """
    from core.engine.config import preset
    from core.engine.train import Trainer
    from microgpt_viz.app.main_window import MainWindow

    default_docs = docs
    made = []

    def make(docs=None, config=None, settings_name="settings.ini", start=True):
        settings = QSettings(str(tmp_path / settings_name), QSettings.Format.IniFormat)
        window = MainWindow(Trainer(list(docs or default_docs), config or preset("original")), settings=settings)
        made.append(window)  # closed and deleted by dispose(), not by qtbot
        window.resize(1400, 900)
        window.show()
        if start:
            with qtbot.waitSignal(window.graphShown, timeout=WAIT_MS):
                window.start()
            qtbot.waitUntil(lambda: not window.graphviz.busy and bool(window.graph.view.nodes), timeout=WAIT_MS)
        return window

    yield make
    dispose(made)


@pytest.fixture
def window(make_window):
    """A window on `docs` that has recorded step 0 and shows its graph."""
    return make_window()


@pytest.fixture
def names(tmp_path, docs):
    path = tmp_path / "names.txt"
    path.write_text("\n".join(docs) + "\n")
    return path


@pytest.fixture
def open_script(qtbot, settle, wait_ms):
    """open_script(window, path, args=(), **kwargs): open a user script and wait until its step is on screen."""
    def open_(window, path, args=(), **kwargs):
        with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
            assert window.script.open(path, args, **kwargs)
        settle(window)
    return open_
