"""Starting the desktop app: `microgpt-viz`, `microgpt-viz gui`, or `gui --screenshot FILE.png`.

The window shows first; the first step is recorded in the background while it does.
"""
import os
import signal
import sys
import tempfile

from PyQt6.QtCore import QSettings, QTimer
from PyQt6.QtWidgets import QApplication

from microgpt_viz.app import model_settings, qt_messages
from microgpt_viz.app.main_window import MainWindow
from microgpt_viz.app.screenshot import Screenshot


def _quit_on_ctrl_c(app):
    """Ctrl+C in the terminal closes the window (Python only sees signals when it runs, so tick)."""
    signal.signal(signal.SIGINT, lambda *_: app.closeAllWindows())
    ticker = QTimer(app)
    ticker.timeout.connect(lambda: None)
    ticker.start(250)


def run_app(trainer, preset_name="original", screenshot=None, actions=(), shown=None, saved_model=False):
    """Open the window on `trainer` and run until it closes; with `screenshot`, render offscreen and save instead.

    `actions` are the parsed --select steps (microgpt_viz.session.select_script), run before the picture.
    `shown`: (file, Trace, which step) to open on instead of the model's first step (microgpt_viz.show).
    `saved_model`: rebuild the trainer with the preset and size last chosen in the app, if any
    (app/model_settings.py); a screenshot never does, so pictures do not depend on the user's settings.
    """
    qt_messages.install()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("microgpt-viz")
    app.setOrganizationName("microgpt-viz")
    if screenshot:
        # a picture from the default layout, whatever the user's saved window state is
        scratch = tempfile.mkdtemp(prefix="microgpt-viz-")
        settings = QSettings(os.path.join(scratch, "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(trainer, settings=settings, preset_name=preset_name)
        window.quiet_errors = True
        window.resize(1600, 1000)
        Screenshot(window, screenshot, actions)
    else:
        settings = QSettings("microgpt-viz", "microgpt-viz")
        if saved_model:
            preset_name = model_settings.apply_saved(settings, trainer) or preset_name
        # the window installs the last-resort error hook (error_hook.py)
        window = MainWindow(trainer, settings=settings, preset_name=preset_name)
        _quit_on_ctrl_c(app)
    window.show()
    if shown is not None:
        QTimer.singleShot(0, lambda: window.script.show_trace(*shown))
    else:
        QTimer.singleShot(0, window.start)
    code = app.exec()
    window.shutdown()
    return code
