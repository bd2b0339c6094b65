"""Background threads lower their own priority, and a process they start inherits it; the caller's is untouched."""
import os
import subprocess
import sys
import threading

import pytest

from microgpt_viz.session import background

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own priority is Linux's")


def priority_of(thread_id):
    return os.getpriority(os.PRIO_PROCESS, thread_id)


def test_a_background_thread_and_what_it_starts_run_after_the_window():
    seen = {}

    def work():
        before = priority_of(threading.get_native_id())
        seen["lowered"] = background.yield_to_the_window()
        seen["before"], seen["after"] = before, priority_of(threading.get_native_id())
        child = subprocess.run([sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"],
                               capture_output=True, text=True, check=True)
        seen["child"] = int(child.stdout)

    main_before = priority_of(threading.get_native_id())
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen["lowered"]
    assert seen["after"] == min(19, seen["before"] + background.BACKGROUND_NICENESS)
    assert seen["child"] == seen["after"]  # Graphviz, started from the layout worker, yields too
    assert priority_of(threading.get_native_id()) == main_before  # the window's thread keeps its priority
