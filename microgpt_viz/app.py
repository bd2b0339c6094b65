"""Starting the desktop app: `microgpt-viz`, `microgpt-viz gui`, or `gui --screenshot FILE.png`.

The window shows first; the first step is recorded in the background while it does.
"""
import os
import sys
import tempfile
import traceback

from microgpt_viz.cli import UserError, check_writable, make_trainer
from microgpt_viz.select_script import SelectError, parse


def _install_excepthook(window):
    """A bug in a slot must not kill the app (PyQt aborts on unhandled exceptions): report it, keep going."""
    def hook(kind, error, tb):
        text = "".join(traceback.format_exception(kind, error, tb))
        print(text, file=sys.stderr)
        window.show_error("Internal error", f"{kind.__name__}: {error}\n(the app keeps running; details on stderr)")

    sys.excepthook = hook


def _quit_on_ctrl_c(app):
    """Ctrl+C in the terminal closes the window (Python only sees signals when it runs, so tick)."""
    import signal

    from PyQt6.QtCore import QTimer

    signal.signal(signal.SIGINT, lambda *_: app.closeAllWindows())
    ticker = QTimer(app)
    ticker.timeout.connect(lambda: None)
    ticker.start(250)


def run_app(args):
    actions = []
    if args.screenshot:
        check_writable(args.screenshot)
        try:
            actions = parse(args.select)
        except SelectError as e:
            raise UserError(str(e)) from None
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    elif args.select:
        raise UserError("--select only works with --screenshot")
    trainer = make_trainer(args)  # bad data or config: one line and exit 2, before any window

    from PyQt6.QtCore import QSettings, QTimer
    from PyQt6.QtWidgets import QApplication

    from microgpt_viz.main_window import MainWindow

    from microgpt_viz import qt_messages

    qt_messages.install()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("microgpt-viz")
    app.setOrganizationName("microgpt-viz")
    if args.screenshot:
        # a picture from the default layout, whatever the user's saved window state is
        scratch = tempfile.mkdtemp(prefix="microgpt-viz-")
        settings = QSettings(os.path.join(scratch, "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(trainer, settings=settings, preset_name=args.preset)
        window.quiet_errors = True
        window.resize(1600, 1000)
        from microgpt_viz.screenshot import Screenshot

        Screenshot(window, args.screenshot, actions)
    else:
        window = MainWindow(trainer, preset_name=args.preset)
        _install_excepthook(window)
        _quit_on_ctrl_c(app)
    window.show()
    QTimer.singleShot(0, window.start)
    code = app.exec()
    window.shutdown()
    return code
