"""The main window's menus and keyboard shortcuts, in one table.

Space step, Ctrl+R run, Esc cancel, Ctrl+F search, Alt+Left / Alt+Right back / forward,
Ctrl+E export, Ctrl+O open a data file, Ctrl+B back to an earlier training step.
"""
from PyQt6.QtGui import QAction, QKeySequence

# menu -> [(name, text, shortcut, method of the window)]; None is a separator
MENUS = {
    "&File": [
        ("open_data", "&Open data file…", "Ctrl+O", "choose_data_file"),
        ("export", "&Export…", "Ctrl+E", "open_export_dialog"),
        None,
        ("quit", "&Quit", "Ctrl+Q", "close"),
    ],
    "&Train": [
        ("step", "&Step", "Space", "step"),
        ("run", "&Run N steps", "Ctrl+R", "run"),
        ("cancel", "&Cancel", "Esc", "cancel"),
        None,
        ("rewind", "&Back to step…", "Ctrl+B", "choose_rewind_step"),
        ("reset", "Rese&t to step 0", "", "reset"),
        ("reset_size", "Reset with another si&ze…", "", "open_size_dialog"),
        ("sample", "Sa&mple names", "", "sample"),
    ],
    "&Navigate": [
        ("back", "&Back", "Alt+Left", "back"),
        ("forward", "&Forward", "Alt+Right", "forward"),
        ("search", "&Search…", "Ctrl+F", "focus_search"),
        None,
        ("whole_step", "&Whole step's loss", "Ctrl+0", "show_whole_step"),
        ("fit", "Fit &graph", "", "fit_graph"),
    ],
}


def install(window):
    """Create the menus; returns {name: QAction}."""
    actions = {}
    bar = window.menuBar()
    for title, entries in MENUS.items():
        menu = bar.addMenu(title)
        for entry in entries:
            if entry is None:
                menu.addSeparator()
                continue
            name, text, shortcut, method = entry
            action = QAction(text, window)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(lambda _=False, m=method: getattr(window, m)())
            window.addAction(action)  # shortcuts work even when the menu bar is hidden
            menu.addAction(action)
            actions[name] = action
    docks_menu = bar.addMenu("&Docks")
    for dock in window.docks.values():
        docks_menu.addAction(dock.toggleViewAction())
    return actions
