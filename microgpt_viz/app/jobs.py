"""A thread of its own that runs plain callables one after another and reports back in the GUI thread.

Training uses one (the Trainer is only ever touched there); Graphviz layout and export use
another, so a slow `dot` never freezes the window.
"""
import itertools

from PyQt6.QtCore import QObject, Qt, QThread, QTimer, pyqtSignal, pyqtSlot

from microgpt_viz.session.background import yield_to_the_window


class _Worker(QObject):
    done = pyqtSignal(int, object, object)  # job number, result, exception (or None)

    @pyqtSlot(int, object)
    def execute(self, number, job):
        try:
            result = job()
        except Exception as e:  # handed back to the GUI thread, which decides how to show it
            self.done.emit(number, None, e)
        else:
            self.done.emit(number, result, None)


class JobRunner(QObject):
    """submit(job, on_done, on_error): job() runs in the worker thread, the callbacks in the GUI thread."""

    busyChanged = pyqtSignal(bool)
    _submit = pyqtSignal(int, object)

    def __init__(self, name, parent=None):
        super().__init__(parent)
        self._numbers = itertools.count(1)
        self._pending = {}  # job number -> (on_done, on_error)
        self._thread = QThread()
        self._thread.setObjectName(name)
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._submit.connect(self._worker.execute)
        self._worker.done.connect(self._finished)
        # runs in the new thread (direct connection): the thread, and the `dot` it starts, get the cores after the window
        self._thread.started.connect(yield_to_the_window, Qt.ConnectionType.DirectConnection)
        self._thread.start()
        # A job is handed to the thread only after the window has painted what the turn that
        # asked for it changed: started at once, its Python fought the paint for the GIL and a
        # Step's paint of every dock took twice its own time (a zero timer fires after the paint).
        self._outbox = []  # (job number, job) not yet handed over
        self._hand_over = QTimer(self)
        self._hand_over.setSingleShot(True)
        self._hand_over.setInterval(0)
        self._hand_over.timeout.connect(self._send)

    @property
    def busy(self):
        return bool(self._pending)

    def submit(self, job, on_done, on_error):
        number = next(self._numbers)
        was_busy = self.busy
        self._pending[number] = (on_done, on_error)
        if not was_busy:
            self.busyChanged.emit(True)
        self._outbox.append((number, job))
        self._hand_over.start()
        return number

    def _send(self):
        outbox, self._outbox = self._outbox, []
        for number, job in outbox:
            self._submit.emit(number, job)

    def shutdown(self, wait_ms=10000):
        self._thread.quit()
        return self._thread.wait(wait_ms)

    def _finished(self, number, result, error):
        on_done, on_error = self._pending.pop(number)
        try:
            if error is not None:
                on_error(error)
            else:
                on_done(result)
        finally:
            if not self.busy:
                self.busyChanged.emit(False)
