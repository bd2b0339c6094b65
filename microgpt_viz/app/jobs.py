"""A thread of its own that runs plain callables one after another and reports back in the GUI thread.

Training uses one (the Trainer is only ever touched there); Graphviz layout and export use
another, so a slow `dot` never freezes the window.
"""
import itertools

from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot


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
        self._thread.start()

    @property
    def busy(self):
        return bool(self._pending)

    def submit(self, job, on_done, on_error):
        number = next(self._numbers)
        was_busy = self.busy
        self._pending[number] = (on_done, on_error)
        if not was_busy:
            self.busyChanged.emit(True)
        self._submit.emit(number, job)
        return number

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
