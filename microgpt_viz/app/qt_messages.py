"""Qt's own log: pass everything on, except the offscreen platform's per-window notice.

The offscreen platform (screenshots, the bench, tests) says "This plugin does not support
propagateSizeHints()" for every window it shows; it means nothing for this app and buries
real messages.
"""
import sys

_NOISE = ("does not support propagateSizeHints",)
_installed = False


def install():
    global _installed
    if _installed:
        return
    from PyQt6.QtCore import qInstallMessageHandler

    def handler(kind, context, message):
        if not any(noise in message for noise in _NOISE):
            print(message, file=sys.stderr)

    qInstallMessageHandler(handler)
    _installed = True
