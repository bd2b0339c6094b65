"""The thin Qt side of a Session: one signal per kind of change it reports."""
from PyQt6.QtCore import QObject, pyqtSignal


class SessionSignals(QObject):
    traceChanged = pyqtSignal()
    viewChanged = pyqtSignal()
    selectionChanged = pyqtSignal()
    lossesChanged = pyqtSignal()
    samplesChanged = pyqtSignal()
    colourChanged = pyqtSignal()

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self._by_name = {
            "trace": self.traceChanged,
            "view": self.viewChanged,
            "selection": self.selectionChanged,
            "losses": self.lossesChanged,
            "samples": self.samplesChanged,
            "colour": self.colourChanged,
        }
        session.subscribe(self._relay)

    def _relay(self, change):
        self._by_name[change].emit()
