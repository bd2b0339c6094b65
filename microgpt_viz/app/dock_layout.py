"""The window's default arrangement of docks into tab groups, applied without leaving stray tab bars.

Qt 6 (seen with 6.11, on xcb and offscreen alike) leaves an old, still visible QTabBar behind
when a second tab group is made with tabifyDockWidget, and more of them when restoreState
meets docks that are tabified already; they sit over the docks' title bars. Restoring a
state into a window whose docks are not tabified yet makes none. So the window only adds its
docks, and its layout always comes from restoreState: the user's saved one, or the default
made here in a scratch window that is never shown.
"""
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDockWidget, QMainWindow, QWidget


def default_state(window, groups, version):
    """saveState() of a scratch copy of `window`'s docks (same names, areas and corners)
    tabified as `groups` says: lists of dock object names, the first of each in front."""
    scratch = QMainWindow()
    scratch.setCentralWidget(QWidget())
    for corner in Qt.Corner:  # the state holds which area owns each corner
        scratch.setCorner(corner, window.corner(corner))
    copies = {}
    for dock in window.findChildren(QDockWidget):
        copy = QDockWidget(dock.windowTitle(), scratch)
        copy.setObjectName(dock.objectName())
        scratch.addDockWidget(window.dockWidgetArea(dock), copy)
        copies[dock.objectName()] = copy
    for group in groups:
        first = copies[group[0]]
        for name in group[1:]:
            scratch.tabifyDockWidget(first, copies[name])
        first.raise_()
    state = scratch.saveState(version)
    scratch.deleteLater()
    return state
