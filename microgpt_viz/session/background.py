"""Background threads give the window the CPU first.

On two cores the window shares the machine with training, the layout worker, the `dot` it
runs and the trace janitor: when three of them wanted a core the window's turns ran 15-30 ms
longer than the work in them (a click's answer, a Step's paint). A background thread lowers
its own scheduling priority when it starts; on Linux a priority is a thread's own and a
process started from that thread (Graphviz) inherits it. Work still runs at full speed on
an otherwise idle core: only when the window wants the CPU does it come first.
"""
import os
import sys
import threading

BACKGROUND_NICENESS = 10  # added to the process's; 0 is normal, 19 the lowest


def yield_to_the_window():
    """Lower the calling thread's priority (Linux; elsewhere a priority is the whole process's: no-op)."""
    if not sys.platform.startswith("linux"):
        return False
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + BACKGROUND_NICENESS))
    except OSError:  # a sandbox that forbids it: the thread runs at normal priority
        return False
    return True
