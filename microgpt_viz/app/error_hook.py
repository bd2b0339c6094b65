"""The app's last resort: anything uncaught, in any thread, becomes a message box instead of a dead app.

PyQt6 aborts the process on an exception that leaves a slot unless sys.excepthook handles it;
an exception in a plain Python thread would only print. Both hooks hand the error to the GUI
thread (a queued signal when raised elsewhere) and the window shows one line, with the
traceback under "Show Details…". Nothing is undone or redone: whatever the failed code had not
yet changed stays as it was. The hooks are the window's only while it is open; closing it puts
back the ones it replaced.
"""
import sys
import threading
import traceback

from PyQt6.QtCore import QObject, pyqtSignal

TITLE = "Internal error"


def summary(error):
    """One line: the exception's type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


class ErrorHook(QObject):
    # one line, the traceback; emitted from whichever thread failed, delivered in the window's
    _caught = pyqtSignal(str, str)

    def __init__(self, show, parent=None):
        """show(title, one_line, details) is called in the GUI thread for every uncaught exception."""
        super().__init__(parent)
        self._show = show
        self._previous = None  # (sys.excepthook, threading.excepthook) replaced by install()
        self._caught.connect(self._deliver)  # a method of this QObject: queued into its thread when raised elsewhere

    @property
    def installed(self):
        return self._previous is not None

    def install(self):
        if self.installed:
            return
        self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self._main_thread_hook
        threading.excepthook = self._thread_hook

    def uninstall(self):
        """Put back the hooks install() replaced, unless someone replaced ours since (theirs stay)."""
        if not self.installed:
            return
        main, thread = self._previous
        if sys.excepthook == self._main_thread_hook:
            sys.excepthook = main
        if threading.excepthook == self._thread_hook:
            threading.excepthook = thread
        self._previous = None

    def report(self, error):
        """Show `error` as the hooks would (for code that catches an exception it cannot handle)."""
        details = "".join(traceback.format_exception(error))
        print(details, file=sys.stderr, end="")
        self._caught.emit(summary(error), details)

    def _deliver(self, line, details):
        self._show(TITLE, f"{line} (the app keeps running)", details)

    def _main_thread_hook(self, kind, error, tb):
        if issubclass(kind, KeyboardInterrupt):
            return sys.__excepthook__(kind, error, tb)
        self.report(error if error is not None else kind())

    def _thread_hook(self, args):
        if args.exc_type is SystemExit:
            return
        self.report(args.exc_value if args.exc_value is not None else args.exc_type())
