"""Placeholder for the desktop app (its own issue builds the real window)."""
import sys


def run_app(args):
    from PyQt6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication(sys.argv[:1])
    label = QLabel("microgpt-viz: the app is being built")
    label.resize(480, 120)
    if args.screenshot:
        label.grab().save(args.screenshot)
        return 0
    label.show()
    return app.exec()
