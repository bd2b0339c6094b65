"""Performance figures of the app, measured offscreen; `microgpt-viz bench` reports them.

    app_start_to_first_paint_s()   a fresh process: start -> main window drawn with a recorded step
    gui_max_stall_ms(steps=50)     longest gap between GUI-thread timer ticks while Run N goes
                                   (with every dock installed, Run N on the fast-forward engine as
                                   the app does by default; fast=False: every update scalar)
    gui_stall_profile(steps=50)    the same run in more detail (training vs. taking in the result)
    overview_paint_s(trace)        (first paint, repaint after a pan) of the whole-step overview
"""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TICK_MS = 5


def _app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtWidgets import QApplication

    from microgpt_viz.app import qt_messages

    qt_messages.install()
    return QApplication.instance() or QApplication(sys.argv[:1])


def app_start_to_first_paint_s(data=None, preset="original", timeout=300):
    """Seconds from spawning `microgpt-viz gui --screenshot` to its window drawn with the first step.

    The child prints the wall-clock time at which it first rendered the window with a
    recorded step and a laid-out graph; interpreter start-up and imports are included.
    """
    with tempfile.TemporaryDirectory(prefix="microgpt-viz-bench-") as scratch:
        command = [sys.executable, "-m", "microgpt_viz", "gui", "--preset", preset, "--screenshot", os.path.join(scratch, "shot.png")]
        if data:
            command += ["--data", str(data)]
        env = dict(os.environ, MICROGPT_VIZ_TIMING="1", QT_QPA_PLATFORM="offscreen")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        started = time.time()
        done = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"the app failed to start: {done.stderr.strip().splitlines()[-1:] or done.returncode}")
    for line in done.stdout.splitlines():
        if line.startswith("first_paint_at "):
            return float(line.split()[1]) - started
    raise RuntimeError("the app did not report its first paint")


def app_size_figures(data, preset_name, n_layer, n_embd, timeout=1200):
    """{first_paint_s, peak_mb, nodes} of `gui --screenshot --select token=all` on that model, in a
    fresh process (core.bench.run_fresh: its peak is its own ru_maxrss, not the caller's)."""
    from core.bench import run_fresh

    with tempfile.TemporaryDirectory(prefix="microgpt-viz-bench-") as scratch:
        command = [sys.executable, "-m", "microgpt_viz", "gui", "--data", str(data), "--preset", preset_name,
                   "--n-layer", str(n_layer), "--n-embd", str(n_embd), "--select", "token=all",
                   "--screenshot", os.path.join(scratch, "shot.png")]
        started = time.time()
        done = run_fresh(command, cwd=scratch, timeout=timeout, extra_env={"MICROGPT_VIZ_TIMING": "1", "QT_QPA_PLATFORM": "offscreen"})
    if done.returncode != 0:
        raise RuntimeError(f"the app failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}")
    said = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    if "first_paint_at" not in said or "peak_rss_mb" not in said:
        raise RuntimeError("the app did not report its first paint and peak")
    return {"first_paint_s": float(said["first_paint_at"]) - started, "peak_mb": float(said["peak_rss_mb"]),
            "nodes": int(said["nodes"])}


def _window(data=None, preset_name="original", fast=True):
    from core.engine.config import preset
    from core.engine.data import load_docs, resolve_data_path
    from core.engine.train import Trainer

    return _window_for(Trainer(load_docs(resolve_data_path(data)), preset(preset_name)), preset_name, fast)


def _window_for(trainer, preset_name="original", fast=True):
    from PyQt6.QtCore import QSettings

    from microgpt_viz.app.main_window import MainWindow

    scratch = tempfile.mkdtemp(prefix="microgpt-viz-bench-")
    settings = QSettings(os.path.join(scratch, "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(trainer, settings=settings, preset_name=preset_name)
    window.quiet_errors = True
    window.resize(1600, 1000)
    window.training_panel.fast.setChecked(fast)
    return window


def _wait(app, condition, timeout=600):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not settle in time")
        app.processEvents()
        time.sleep(0.002)


def gui_stall_profile(steps=50, data=None, preset_name="original", fast=True):
    """Run `steps` updates in the real window and watch the GUI thread with a 5 ms timer.

    Returns max_stall_ms (whole run, including taking in the result), training_stall_ms
    (while the worker trains and records), apply_ms (the GUI taking in the result: the new
    trace in every dock, including the debugging docks), seconds and steps.
    """
    from PyQt6.QtCore import QEventLoop, Qt, QTimer

    app = _app()
    window = _window(data, preset_name, fast)
    window.show()
    window.start()
    _wait(app, lambda: window.session.trace is not None and not window.training.busy and not window.graphviz.busy)
    ticks = []
    handed_over = []  # when the worker finished the run (stamped in the worker thread)
    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    window.training._runner._worker.done.connect(
        lambda *_: handed_over.append(time.perf_counter()), Qt.ConnectionType.DirectConnection
    )
    loop = QEventLoop()
    window.training.busyChanged.connect(lambda busy: None if busy else loop.quit())
    timer.start()
    started = time.perf_counter()
    ticks.append(started)
    window.run(steps)
    loop.exec()
    ended = time.perf_counter()
    timer.stop()
    ticks.append(ended)
    gaps = [(b - a, b) for a, b in zip(ticks, ticks[1:])]
    hand = handed_over[-1] if handed_over else ended
    training = [g for g, at in gaps if at <= hand]
    result = {
        "max_stall_ms": max(g for g, _ in gaps) * 1000,
        "training_stall_ms": (max(training) if training else 0.0) * 1000,
        "apply_ms": max([at - max(hand, at - g) for g, at in gaps if at > hand] or [0.0]) * 1000,
        "seconds": ended - started,
        "steps": len(window.session.losses),
    }
    window.close()
    return result


def gui_max_stall_ms(steps=50, data=None, preset_name="original", fast=True):
    """Longest gap (ms) between GUI-thread timer ticks while Run `steps` goes (target: < 100)."""
    return gui_stall_profile(steps, data, preset_name, fast)["max_stall_ms"]


def overview_paint_s(trace, width=800, height=300):
    """(first paint s, repaint after a pan s) of the overview of every node of `trace`."""
    from microgpt_viz.session import overview_positions
    from microgpt_viz.app.docks.overview import Overview

    overview_positions.forget(trace)  # the first paint of a step includes laying it out
    app = _app()
    overview = Overview()
    overview.resize(width, height)
    overview.show()
    app.processEvents()
    start = time.perf_counter()
    overview.set_trace(trace)
    overview.grab()
    first = time.perf_counter() - start
    overview.view_box.translateBy(x=(overview.x.max() - overview.x.min()) * 0.05)
    start = time.perf_counter()
    overview.grab()
    repaint = time.perf_counter() - start
    overview.close()
    return first, repaint


def browse_stall_profile(trainer, trace, position=2, query="op:exp pos:3", debug_docks=False):
    """Browse `trace` in the real window as a person would and watch the GUI thread (5 ms timer).

    Returns {what was done: (longest GUI stall ms, seconds until the window settled)}, in order:
    showing the step (the whole step's loss, the overview's first paint included), the
    token strip's click on `position` and back to the whole step, a search, a node chosen in
    the overview (the inspector fills), an opened module-level group, and an overview pan.
    Settled means training and layout idle and the graph showing the current view.
    With debug_docks, then each debugging dock's own work too (settled: its analysis is back).
    `trace` should be prepared as the training worker prepares a step (stepping.built_quietly).
    """
    from PyQt6.QtCore import QSettings, QTimer

    from microgpt_viz.app.main_window import MainWindow

    app = _app()
    scratch = tempfile.mkdtemp(prefix="microgpt-viz-bench-")
    window = MainWindow(trainer, settings=QSettings(os.path.join(scratch, "settings.ini"), QSettings.Format.IniFormat))
    window.quiet_errors = True
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    ticks = []
    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()

    def settled():
        rendered = window.session.rendered_if_ready()  # rendering here would be the probe's own stall
        if window.training.busy or window.graphviz.busy or window.graph.view.building or rendered is None:
            return False
        refused = window._shown_key is None and window.graph.notice.isVisible()  # too many boxes: a notice instead
        return refused or set(window.graph.view.nodes) == {n.id for n in rendered.nodes}

    figures = {}
    notices = []

    def measure(what, act):
        app.processEvents()
        ticks.clear()
        started = time.perf_counter()
        ticks.append(started)
        act()
        ticks.append(time.perf_counter())
        _wait(app, settled)
        ticks.append(time.perf_counter())
        figures[what] = (max(b - a for a, b in zip(ticks, ticks[1:])) * 1000, ticks[-1] - started)
        if window.graph.notice.isVisible():
            notices.append(f"{what}: {window.graph.notice.text()}")

    measure("show the whole step", lambda: window.show_unrelated_trace(trace, release_old=False) or window.session.select_position(None))
    measure(f"token strip: position {position}", lambda: window.select_position(position))
    measure("token strip: whole step", window.show_whole_step)
    measure(f"search {query!r} + Enter", lambda: (window.search.query.setText(query), window.search.query.returnPressed.emit()))
    node = trace.num_nodes // 2
    measure(f"overview click on node {node} (inspector)", lambda: window.overview.nodeClicked.emit(node))
    measure(f"token strip: position {position} again", lambda: window.select_position(position))
    measure(f"open pos{position}/layer0 (module level)", lambda: window.toggle_group(f"pos{position}/layer0"))
    overview = window.overview
    measure("overview pan", lambda: overview.view_box.translateBy(x=(overview.x.max() - overview.x.min()) * 0.05))
    if debug_docks:
        panels = window.debug_panels
        analysing = settled

        def settled():
            return analysing() and not any(panel.background.busy for _, panel in panels.panels.values())

        def show(name):
            return lambda: (window.docks[name].show(), window.docks[name].raise_())

        measure("anomalies dock shown (anomaly report)", show("anomalies"))
        measure("replay dock shown (backward replay)", show("replay"))
        measure("replay: halfway through backward", lambda: panels.replay.set_position(panels.replay.replay.size // 2))
        measure("what-if dock: edit the selected value", lambda: (show("whatif")(), panels.whatif.edit(1.0)))
        measure("gradient check of 3 parameters", lambda: (show("gradcheck")(), panels.gradcheck.run_sample(3)))
        measure("step diff dock: the step against itself", lambda: (show("diff")(), panels.diff.pin_current(), panels.diff.set_b(trace)))
    timer.stop()
    figures["notices"] = notices
    window.close()
    return figures


SOAK_SEARCHES = ("op:exp", "op:log", "op:relu |grad|>1e-3")  # a user's searches, taken in turn


def rss_mb():
    """Resident memory of this process now (MB), from /proc (None where there is no /proc)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class _ErrorCounter:
    """Exceptions raised anywhere while installed (GUI slots, Python threads), as one-line texts."""

    def __init__(self):
        self.texts = []

    def __enter__(self):
        import threading

        self._hooks = (sys.excepthook, threading.excepthook)
        sys.excepthook = lambda kind, value, tb: self.texts.append(f"{kind.__name__}: {value}")
        threading.excepthook = lambda hook: self.texts.append(f"{hook.exc_type.__name__} in thread {hook.thread.name if hook.thread else '?'}: {hook.exc_value}")
        return self

    def __exit__(self, *exc):
        import threading

        sys.excepthook, threading.excepthook = self._hooks
        return False


def _graph_settled(window):
    rendered = window.session.rendered_if_ready()  # rendering here would be the probe's own stall
    return (window.session.trace is not None and not window.training.busy and not window.graphviz.busy
            and not window.graph.view.building and rendered is not None and set(window.graph.view.nodes) == {n.id for n in rendered.nodes})


def _soak_interactions(window, round_number):
    """What a user does between two Steps every so often: a token click, two group expansions,
    a colour change and a search jump (each through the widget's own signal, as a click would)."""
    from microgpt_viz.session.model import PLAIN_MODES

    session = window.session
    trace = session.trace
    yield "token click", lambda: window.token_strip.positionClicked.emit(round_number % trace.positions)
    for index in range(2):
        def expand(index=index):
            closed = [n.id for n in session.rendered().nodes if n.kind == "group" and n.expandable]
            if closed:
                window.toggle_group(closed[(round_number + index) % len(closed)])
        yield "group expansion", expand
    yield "colour change", lambda: window.graph.colourChosen.emit(PLAIN_MODES[round_number % len(PLAIN_MODES)])

    def search():
        window.search.query.setText(SOAK_SEARCHES[round_number % len(SOAK_SEARCHES)])
        window.search.query.returnPressed.emit()
    yield "search", search


def soak(steps, data=None, preset_name="original", fast=True, trainer=None, progress=None, interact_every=10):
    """Drive the real window offscreen through `steps` Steps (one scalar update, record, redraw each),
    every `interact_every`-th one preceded by a token click, two group expansions, a colour change
    and a search, as a user's long session goes.

    A 5 ms timer watches the GUI thread throughout. Returns soak_steps, soak_rss_after_50_mb
    (after Step 50, or after the last one in a shorter soak), soak_rss_end_mb, app_step_median_s
    (Step pressed -> the new step drawn), soak_max_stall_ms and soak_errors (message boxes shown and
    exceptions raised in any thread), plus step_seconds and error_texts for a closer look.
    """
    import statistics

    from PyQt6.QtCore import QTimer

    app = _app()
    window = _window(data, preset_name, fast) if trainer is None else _window_for(trainer, preset_name, fast)
    step_seconds, rss_after_50 = [], None
    worst = (0.0, None)  # (longest stall s, what was going on)
    with _ErrorCounter() as raised:
        window.show()
        window.start()
        _wait(app, lambda: _graph_settled(window))
        ticks = [time.perf_counter()]
        timer = QTimer()
        timer.setInterval(TICK_MS)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start()
        def longest_stall_since(first_tick, what):
            nonlocal worst
            gaps = [b - a for a, b in zip(ticks[first_tick:], ticks[first_tick + 1:] + [time.perf_counter()])]
            if gaps and max(gaps) > worst[0]:
                worst = (max(gaps), what)

        try:
            for number in range(1, steps + 1):
                if interact_every and number % interact_every == 0:
                    for what, interaction in _soak_interactions(window, number // interact_every):
                        first_tick = len(ticks) - 1
                        try:
                            interaction()
                        except Exception as e:  # counted like any other error, the soak goes on
                            raised.texts.append(f"{type(e).__name__}: {e}")
                        _wait(app, lambda: _graph_settled(window))
                        longest_stall_since(first_tick, f"{what} before Step {number}")
                started, first_tick = time.perf_counter(), len(ticks) - 1
                window.step()
                _wait(app, lambda: not window.training.busy)
                _wait(app, lambda: _graph_settled(window))
                step_seconds.append(time.perf_counter() - started)
                longest_stall_since(first_tick, f"Step {number}")
                if number == min(50, steps):
                    rss_after_50 = rss_mb()
                if progress:
                    progress(number, step_seconds[-1], rss_mb())
        finally:
            timer.stop()
            ticks.append(time.perf_counter())
            errors = [f"{title}: {text}" for title, text in window.errors] + raised.texts
            window.close()
    return {
        "soak_steps": len(step_seconds),
        "soak_rss_after_50_mb": rss_after_50,
        "soak_rss_end_mb": rss_mb(),
        "app_step_median_s": statistics.median(step_seconds) if step_seconds else None,
        "soak_max_stall_ms": max(b - a for a, b in zip(ticks, ticks[1:])) * 1000,
        "soak_errors": len(errors),
        "step_seconds": step_seconds,
        "error_texts": errors,
        "longest_stall_during": worst[1],
    }
