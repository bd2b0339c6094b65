"""The main window: the graph in the middle, docks around it, all driven by one Session.

Data flows one way. User actions call Session methods (or the TrainingController for
anything that touches the Trainer); the Session reports what changed; the handlers here
push plain data into the widgets. Graphviz layouts and exports run in a thread of their
own, so neither training nor a big layout ever freezes the window.
"""
import math
import sys
from pathlib import Path

from PyQt6.QtCore import QByteArray, QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import QDockWidget, QFileDialog, QInputDialog, QMainWindow, QMessageBox

import core.engine.model
from core.engine.config import ConfigError, preset
from core.engine.data import DataError, load_docs
from core.views.layout import GraphvizFailed, GraphvizNotFound, layout_view
from core.trace.index import index_of
from microgpt_viz.app.debug import change_colouring, panels as debug_panels
from microgpt_viz.app import dock_layout, model_settings, script_mode, window_actions
from microgpt_viz.app.docks.attention import AttentionPanel
from microgpt_viz.app.error_hook import ErrorHook
from microgpt_viz.app.dialogs.export_dialog import ExportDialog
from microgpt_viz.app.dialogs.size_dialog import SizeDialog, size_of, size_overrides, size_words
from microgpt_viz.session.exporting import export_view, view_title
from microgpt_viz.app.graph.node_colours import colours_for
from microgpt_viz.app.graph.panel import GraphPanel
from microgpt_viz.app.docks.inspector import Inspector
from microgpt_viz.app.jobs import JobRunner
from microgpt_viz.app.docks.overview import Overview
from microgpt_viz.app.docks.search_panel import SearchPanel
from microgpt_viz.session.model import CHANGE_MODES, PLAIN_MODES, Session
from microgpt_viz.session import trace_memory
from microgpt_viz.session.stepping import step_words
from microgpt_viz.app.session_signals import SessionSignals
from microgpt_viz.app.docks.source_view import SourceView
from microgpt_viz.app.docks.token_strip import TokenStrip, vocab_size
from microgpt_viz.app.training import TrainingController
from microgpt_viz.app.docks.training_panel import TrainingPanel

LAYOUT_LIMIT = 4000  # boxes; Graphviz takes minutes beyond this, so the view asks for a smaller one
NOTICE_DELAY_MS = 250  # say "laying out…" only when it is not instant
RANKDIR = "TB"
DEFAULT_POSITION = 2  # the app opens on this token's loss cone (the first `m` of `emma`)
STATE_VERSION = 2  # of the saved dock layout; a layout saved with other docks than these is not restored


def _param_source_line():
    """The line of core/engine/model.py that creates parameter Values (where a parameter 'comes from')."""
    for number, line in enumerate(Path(core.engine.model.__file__).read_text(encoding="utf-8").splitlines(), start=1):
        if "Value(rng.gauss" in line:
            return number
    return 1


class MainWindow(QMainWindow):
    graphShown = pyqtSignal()  # the graph view shows the session's current view (tests wait for it)
    stepShown = pyqtSignal()  # a newly recorded step reached every widget

    def __init__(self, trainer, settings=None, preset_name="original"):
        super().__init__()
        self.setWindowTitle("microgpt-viz")
        self.settings = settings if settings is not None else QSettings("microgpt-viz", "microgpt-viz")
        self.preset_name = preset_name
        # the size fields chosen apart from the preset's own: Reset with another preset keeps them
        self.size_overrides = size_overrides(preset_name, size_of(trainer.config))
        self.session = Session(trainer)
        self.session.position = DEFAULT_POSITION
        self.signals = SessionSignals(self.session, self)
        self.training = TrainingController(trainer, self)
        self.training.positions_to_prepare = (DEFAULT_POSITION,)
        self.graphviz = JobRunner("microgpt-viz graphviz", self)
        self._layout_generation = 0
        # A child timer, not QTimer.singleShot with a lambda: it dies with the window instead of
        # keeping a closed window alive until it fires.
        self._layout_notice = QTimer(self)
        self._layout_notice.setSingleShot(True)
        self._layout_notice.setInterval(NOTICE_DELAY_MS)
        self._layout_notice.timeout.connect(self._notice_if_waiting)
        self._hint = {}  # how the next graph refresh should move the camera: anchor / fit
        self._shown_key = None  # (shape_key, rankdir) the graph view is drawn for
        self._group_inspection_pending = False  # a group is selected whose picture is still being rendered
        self._graphviz_missing_told = False
        self.errors = []  # (title, text) of every message box shown, newest last
        self.message_box = None  # the last box with details or choices (open, not blocking), for tests to answer
        self.error_hook = ErrorHook(self.show_error, self)
        self.error_hook.install()
        self.quiet_errors = False  # True for --screenshot: report on stderr, never block on a box
        self._restored_state = False  # the dock layout came from the settings
        self._docks_arranged = False

        self._build_widgets()
        self._build_docks()
        self.actions = window_actions.install(self)
        debug_panels.install(self)  # anomalies, gradcheck, what-if, replay, diff docks; File > training state
        change_colouring.install(self)  # what-if edits and step diffs colour the graph by what they change
        script_mode.install(self)  # File > Open script…: a user's own microgpt step in place of the model's
        self._connect()
        self.statusBar().showMessage("recording the first step…")
        self._restore_settings()
        self.training_panel.set_config(preset_name, trainer.config.learning_rate, size_words(trainer.config))

    # ---- construction -------------------------------------------------------------------
    def _build_widgets(self):
        self.graph = GraphPanel()
        self.setCentralWidget(self.graph)
        self.token_strip = TokenStrip()
        self.training_panel = TrainingPanel()
        self.inspector = Inspector()
        self.attention = AttentionPanel()
        self.overview = Overview()
        self.source = SourceView()
        self.search = SearchPanel()

    def _build_docks(self):
        self.docks = {}
        area = Qt.DockWidgetArea
        for name, title, widget, where in (
            ("tokens", "Tokens: click one to see its loss cone", self.token_strip, area.TopDockWidgetArea),
            ("training", "Training", self.training_panel, area.LeftDockWidgetArea),
            ("search", "Search", self.search, area.LeftDockWidgetArea),
            ("inspector", "Inspector", self.inspector, area.RightDockWidgetArea),
            ("source", "Source", self.source, area.RightDockWidgetArea),
            ("overview", "Overview: every node, bright = large |grad|", self.overview, area.LeftDockWidgetArea),
            ("attention", "Attention", self.attention, area.BottomDockWidgetArea),
        ):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock_{name}")
            dock.setWidget(widget)
            self.addDockWidget(where, dock)
            self.docks[name] = dock
        # tab groups (dock object names, the first in front), made by restoreState: see dock_layout.py
        self.dock_groups = [["dock_training", "dock_search"], ["dock_attention"]]
        self.setCorner(Qt.Corner.BottomLeftCorner, area.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, area.RightDockWidgetArea)
        self.setCorner(Qt.Corner.TopLeftCorner, area.TopDockWidgetArea)
        self.setCorner(Qt.Corner.TopRightCorner, area.TopDockWidgetArea)

    def _arrange_docks(self):
        """Default dock sizes, once the window has its real size (sizes set earlier get squeezed)."""
        height = self.height()
        self.resizeDocks([self.docks["training"], self.docks["inspector"]], [330, 450], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["training"], self.docks["overview"]], [int(height * 0.62), int(height * 0.22)], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["attention"]], [int(height * 0.27)], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["inspector"], self.docks["source"]], [int(height * 0.58), int(height * 0.3)], Qt.Orientation.Vertical)

    def showEvent(self, event):
        super().showEvent(event)
        if not self._docks_arranged:
            self._docks_arranged = True
            if not self._restored_state:
                self._arrange_docks()

    def _connect(self):
        s = self.signals
        s.traceChanged.connect(self._trace_changed)
        s.viewChanged.connect(self._view_changed)
        s.selectionChanged.connect(self._selection_changed)
        s.lossesChanged.connect(lambda: self.training_panel.loss_plot.set_losses(self.session.losses))
        s.samplesChanged.connect(lambda: self.training_panel.set_samples(self.session.samples))
        s.colourChanged.connect(self._colour_changed)
        t = self.training
        t.busyChanged.connect(self._busy_changed)
        t.progress.connect(self.training_panel.set_progress)
        t.stepped.connect(self.training_panel.loss_plot.extend)
        t.advanced.connect(self._advanced)
        t.trainerReset.connect(self._trainer_reset)
        t.sampled.connect(self.session.set_samples)
        t.failed.connect(self.show_error)
        t.rewound.connect(self._rewound)
        t.diverged.connect(self._diverged)
        self.training_panel.loss_plot.stepClicked.connect(self.rewind)
        p = self.training_panel
        p.stepRequested.connect(self.step)
        p.runRequested.connect(self.run)
        p.cancelRequested.connect(self.cancel)
        p.resetRequested.connect(self.reset)
        p.sizeRequested.connect(self.open_size_dialog)
        p.learningRateChanged.connect(self.training.set_learning_rate)
        p.fastChanged.connect(lambda on: setattr(self.training, "fast", on))
        p.sampleRequested.connect(lambda n: self.sample(n))
        g = self.graph
        g.view.nodeClicked.connect(self.select_box)
        g.view.nodeDoubleClicked.connect(self.toggle_group)
        g.view.clusterDoubleClicked.connect(self.toggle_group)
        g.view.backgroundClicked.connect(lambda: self.session.select(None, remember=False))
        g.backRequested.connect(self.back)
        g.forwardRequested.connect(self.forward)
        g.levelChosen.connect(self.set_level)
        g.colourChosen.connect(self.choose_colour)
        g.breadcrumb.crumbClicked.connect(self.focus_scope)
        self.token_strip.positionClicked.connect(self.select_position)
        # queued: the inspector rebuilds its tables, so let the click that asked for it finish first
        self.inspector.nodeClicked.connect(self.go_to_node, Qt.ConnectionType.QueuedConnection)
        self.inspector.sourceClicked.connect(lambda f, line: (self.source.show_line(f, line), self.docks["source"].raise_()))
        self.inspector.expandRequested.connect(self.toggle_group)
        self.attention.cellClicked.connect(self.select_attention_cell)
        self.overview.nodeClicked.connect(self.go_to_node)
        self.search.nodeChosen.connect(self.go_to_node)

    # ---- starting and stopping ----------------------------------------------------------------
    def start(self):
        """Record the first step in the background (call once the window is showing)."""
        self.training.record()

    def closeEvent(self, event):
        self._save_settings()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self):
        """Stop a user's script's process and the worker threads (each finishes its current job first),
        and give back the error hooks."""
        self.script.shutdown()
        self.error_hook.uninstall()
        self.training.shutdown()
        self.graphviz.shutdown()
        self.debug_panels.shutdown()

    def _restore_settings(self):
        s = self.settings
        geometry, state = s.value("window/geometry"), s.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1600, 1000)
        if isinstance(state, QByteArray):
            self._restored_state = self.restoreState(state, STATE_VERSION)
        if not self._restored_state:
            self.restoreState(dock_layout.default_state(self, self.dock_groups, STATE_VERSION), STATE_VERSION)
        colour = s.value("graph/colour", "grad")
        if colour in PLAIN_MODES:
            self.session.set_colour_by(colour)
            self.graph.set_colour_mode(colour)
        fast = s.value("training/fast", True)
        self.training_panel.fast.setChecked(fast not in (False, "false", "0", 0))
        runs = s.value("training/run_count", 20)
        try:
            self.training_panel.run_count.setValue(int(runs))
        except (TypeError, ValueError):
            pass
        mode = s.value("attention/mode", "weights")
        if mode in ("weights", "logits", "grads"):
            self.attention.set_mode(mode)

    def _save_settings(self):
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState(STATE_VERSION))
        s.setValue("graph/colour", self.session.plain_colour)  # a change's colouring ends with the session
        s.setValue("training/run_count", self.training_panel.run_count.value())
        s.setValue("training/fast", self.training_panel.fast.isChecked())
        s.setValue("attention/mode", self.attention.canvas.mode)
        s.sync()

    # ---- user commands (menus, shortcuts, widgets and tests call these) --------------------
    def step(self):
        if self.script.active:  # a user's script: its training loop, not the model's
            self.script.step()
        elif not self.training.busy:
            self.training.step()

    def run(self, count=None):
        if self.script.active:
            self.script.run(count or self.training_panel.run_count.value())
        elif not self.training.busy:
            self.training.run(count or self.training_panel.run_count.value())

    def cancel(self):
        self.training.cancel()

    def reset(self, preset_name=None):
        if self.script.active:
            self.script.reset()
            return
        if self.training.busy:
            return
        name = preset_name or self.training_panel.preset.currentText()
        try:
            config = preset(name, seed=self.training.trainer.config.seed, **self.size_overrides)
        except ConfigError as e:
            self.show_error("Cannot reset", str(e))
            return
        self._reset_to(name, config)

    def open_size_dialog(self):
        if self.training.busy or self.script.active:
            return
        dialog = SizeDialog(self, self.preset_name, size_of(self.training.trainer.config))
        if dialog.exec() and (request := dialog.request()) is not None:
            self.reset_with_size(request)

    def reset_with_size(self, request):
        """Back to step 0 with another preset and size (a dialog's SizeRequest); remembered for the
        next start. A size that cannot make a model shows why and changes nothing."""
        if self.training.busy or self.script.active:
            return False
        try:
            config = request.config(seed=self.training.trainer.config.seed)
        except ConfigError as e:
            self.show_error("Cannot use this size", str(e))
            return False
        self.size_overrides = size_overrides(request.preset_name, request.size())
        self._reset_to(request.preset_name, config)
        return True

    def _reset_to(self, preset_name, config):
        self.preset_name = preset_name
        self.training_panel.set_config(preset_name, config.learning_rate)
        model_settings.save(self.settings, preset_name, config)
        self.training.reset(config=config)

    def rewind(self, step):
        """Go back to the state before `step`, exactly as the run had it; the steps after it are dropped."""
        if self.training.busy or self.script.active:
            return False
        earliest = self.training.trainer.snapshots.earliest or 0
        if not earliest <= step <= self.session.step_index:
            self.show_error("Cannot go back", f"step {step} is not between step {earliest} (the earliest kept) and step {self.session.step_index} (now)")
            return False
        self.training.rewind(step)
        return True

    def choose_rewind_step(self):
        if self.training.busy or self.script.active:
            return False
        earliest, now = self.training.trainer.snapshots.earliest or 0, self.session.step_index
        step, chosen = QInputDialog.getInt(
            self, "Back to step", f"Go back to step ({earliest} to {now}; the steps after it are dropped):",
            max(earliest, now - 1), earliest, now)
        return self.rewind(step) if chosen else False

    def sample(self, count=10):
        if not self.training.busy and not self.script.active:
            self.training.sample(count)

    def choose_data_file(self):
        path, _ = QFileDialog.getOpenFileName(self, "Open a data file (one document per line)", "", "Text (*.txt);;All files (*)")
        if path:
            self.open_data(path)

    def open_data(self, path):
        """Train on another file from step 0. A bad file shows a message and changes nothing."""
        if self.training.busy:
            self.show_error("Busy", "Wait for training to finish (or Cancel it) before opening another file.")
            return False
        try:
            docs = load_docs(path)
        except DataError as e:
            self.show_error("Cannot open the data file", str(e))
            return False
        self.training.reset(docs=docs)
        self.statusBar().showMessage(f"{len(docs)} documents from {path}")
        return True

    def show_unrelated_trace(self, trace, release_old=True):
        """Show a step unrelated to the one on screen (a script's, or the model's again): fresh view, framed."""
        self._hint = {"fit": True}
        position = DEFAULT_POSITION if trace.positions > DEFAULT_POSITION else None
        self.session.replace_trace(trace, position=position, release_old=release_old)

    def select_box(self, visible_id):
        """A click on a box of the graph view."""
        try:
            self.session.select(visible_id)
        except KeyError:
            pass  # a box of a picture being replaced (a new layout is on its way)

    def select_position(self, position):
        self._hint = {"fit": True}
        self.session.select_position(position)

    def show_whole_step(self):
        self.select_position(None)

    def toggle_group(self, group_id, strict=False):
        self._hint = {"anchor": group_id}
        try:
            self.session.toggle(group_id, remember=True)
        except ValueError as e:
            self.statusBar().showMessage(str(e), 5000)
            if strict:  # --select: a mistake must end the run, not hide in the status bar
                raise

    def focus_scope(self, path, strict=False):
        self._hint = {"fit": True}
        try:
            self.session.focus(path)
        except ValueError as e:
            self.statusBar().showMessage(str(e), 5000)
            if strict:  # --select: a mistake must end the run, not hide in the status bar
                raise

    def set_level(self, level):
        self._hint = {"fit": True}
        focused = self.session.set_level(level, limit=LAYOUT_LIMIT)
        if focused is not None:
            self.statusBar().showMessage(
                f"{level} level: showing {focused}, around the selection (the whole view has too many boxes to draw)", 8000)

    def go_to_node(self, node, strict=False):
        self._hint = {"centre": True}
        try:
            self.session.select_node(node)
        except ValueError as e:
            self.statusBar().showMessage(str(e), 5000)
            if strict:  # --select: a mistake must end the run, not hide in the status bar
                raise

    def select_attention_cell(self, layer, head, query, key):
        nodes = self.session.trace.attention_nodes
        if nodes.ndim != 4 or not all(0 <= i < n for i, n in zip((layer, head, query, key), nodes.shape)):
            raise IndexError(f"no attention cell {layer}:{head}:{query}:{key} in this step")
        node = int(nodes[layer, head, query, key])
        if node < 0:
            return
        if self.session.position != query:
            self.select_position(query)
        self.go_to_node(node)

    def back(self):
        self.session.back()

    def forward(self):
        self.session.forward()

    def choose_colour(self, mode):
        """The colour menu: a mode the session refuses (a Δ mode with no change shown) is said, not raised."""
        try:
            self.session.set_colour_by(mode)
        except ValueError as e:
            self.graph.set_colour_mode(self.session.colour_by)
            self.statusBar().showMessage(str(e), 5000)

    def focus_search(self):
        self.docks["search"].show()
        self.docks["search"].raise_()
        self.search.focus_query()

    def fit_graph(self):
        self.graph.view.fit()

    def open_export_dialog(self):
        dialog = ExportDialog(self, folder=self.settings.value("export/folder", ""), rankdir=RANKDIR)
        if dialog.exec() != ExportDialog.DialogCode.Accepted:
            return
        request = dialog.request()
        self.settings.setValue("export/folder", str(Path(request.path).parent))
        if request.target == "attention grid":
            self.export_attention(request.path, request.fmt)
        else:
            self.export_graph(request.path, request.fmt, request.theme, request.rankdir)

    def export_graph(self, path, fmt, theme="light", rankdir=RANKDIR, on_done=None):
        """Write the current view as a Graphviz diagram, in the background; a message box on failure."""
        rendered = self.session.rendered()
        if rendered is None:
            return
        title = view_title(self.session.trace, self.session.position, self.session.view.scope)
        colour = self.session.colour_by
        if colour in CHANGE_MODES:  # the diagram has the step's own numbers, not the change's
            colour = self.session.plain_colour
            self.statusBar().showMessage(f"the diagram is coloured by {colour}: colouring by a change is on screen only", 8000)

        def done(written):
            self.statusBar().showMessage(f"exported {written}", 8000)
            if on_done:
                on_done(written)

        def failed(error):
            self.show_error("Export failed", str(error))

        self.statusBar().showMessage(f"exporting {Path(path).name}…")
        self.graphviz.submit(lambda: export_view(rendered, path, fmt, theme, rankdir, colour, title), done, failed)

    def export_attention(self, path, fmt):
        canvas = self.attention.canvas
        if not canvas.available:
            self.show_error("Nothing to export", "This step has no attention tables (a script's step): there is no attention grid to export.")
            return
        try:
            if fmt == "svg":
                canvas.write_svg(path)
            elif not canvas.to_image().save(str(path)):
                raise OSError(f"could not write {path}")
        except OSError as e:
            self.show_error("Export failed", str(e))
            return
        self.statusBar().showMessage(f"exported {path}", 8000)

    def show_error(self, title, text, details="", choices=()):
        """Every problem the user must hear about goes through here: one message box, state kept.

        `details` go under "Show Details…"; `choices` are (button text, callback) offered beside
        Close. Such a box opens without blocking (window-modal) and is kept in self.message_box.
        """
        self.errors.append((title, text))
        self.statusBar().showMessage(text.splitlines()[0] if text else title, 10000)
        if self.quiet_errors:
            print(f"microgpt-viz: {title}: {text}", file=sys.stderr)
            return
        if not details and not choices:
            QMessageBox.warning(self, title, text)
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Close, self)
        if details:
            box.setDetailedText(details)
        for label, callback in choices:
            button = box.addButton(label, QMessageBox.ButtonRole.AcceptRole)
            button.clicked.connect(callback)
            box.setDefaultButton(button)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.message_box = box
        box.open()

    # ---- reacting to the session ---------------------------------------------------------------
    def _trace_changed(self):
        trace = self.session.trace
        if trace is None:
            return
        self.token_strip.set_trace(trace)
        self.token_strip.set_position(self.session.position)
        self.attention.set_trace(trace)
        self.overview.set_trace(trace)
        self.search.set_trace(trace)
        if trace.config is None:  # a user's script: the training dock keeps showing the model's run
            edges = f"{trace.num_nodes:,} values, {len(index_of(trace).src):,} edges, loss {trace.loss:.4f}"
            self.statusBar().showMessage(f"{self.script.title()}: {edges}")
        else:
            self.training_panel.loss_plot.set_vocab_size(vocab_size(trace))
            self._show_where_training_stands()
        self.stepShown.emit()

    def _show_where_training_stands(self):
        """Status bar and training dock, from the session's step count (the trainer's, as last reported)."""
        session, trace = self.session, self.session.trace
        if trace is None or trace.config is None:
            return
        step, planned = session.step_index, session.planned_steps or trace.config.num_steps
        edges = f"{trace.num_nodes:,} values, {len(index_of(trace).src):,} edges, loss {trace.loss:.4f}"
        guess = f"(uniform guess: {math.log(vocab_size(trace)):.4f})"
        if trace.step == step:
            self.training_panel.set_position(step, planned, trace.doc, trace.loss)
            self.statusBar().showMessage(f"{step_words(step, planned)}: {trace.doc!r}, {edges}  {guess}")
            return
        if step >= planned:
            why = f"all {planned} planned steps are done (Reset starts over)"
        else:
            why = f"step {step} could not be recorded"
        shown = f"the graph shows step {trace.step} ({trace.doc!r}, loss {trace.loss:.4f})"
        self.training_panel.set_status(f"{step_words(step, planned)}\n{why};\n{shown}")
        self.statusBar().showMessage(f"{step_words(step, planned)}: {why}; {shown}, {edges}")

    def _view_changed(self):
        position = self.session.position
        self.training.positions_to_prepare = () if position is None else (position,)  # read by the worker
        self.token_strip.set_position(position)
        self.graph.set_level(self.session.view.level if self.session.view else None)
        hint, self._hint = self._hint, {}
        self._refresh_graph(anchor=hint.get("anchor"), fit=hint.get("fit", False), centre=hint.get("centre", False))

    def _refresh_graph(self, anchor=None, fit=False, centre=False):
        """Show the session's current view: rendered (and, for a new shape, laid out by Graphviz) in
        the layout worker, from a snapshot of the view; a million-Value step's render takes tenths of
        a second the window would otherwise freeze for."""
        view = self.session.view
        if view is None:
            return
        self._layout_generation += 1
        generation = self._layout_generation
        rendered = view.rendered
        if rendered is not None and (rendered.shape_key, RANKDIR) == self._shown_key:
            self._show_graph(rendered, self.graph.view.newest_layout, anchor, fit, centre)
            return
        snapshot, shown_key = view.snapshot(), self._shown_key
        colouring = (self.session.colour_by, self.session.change)
        self._layout_notice.start()

        def render_and_lay_out():  # in the worker: only the snapshot and the read-only Trace are touched
            rendered = snapshot.render()
            if len(rendered.nodes) > LAYOUT_LIMIT:  # refused with a notice: nothing to lay out or colour
                return rendered, None, None
            colours = colours_for(rendered, colouring)
            if (rendered.shape_key, RANKDIR) == shown_key:
                return rendered, None, colours
            return rendered, layout_view(rendered, RANKDIR), colours

        self.graphviz.submit(
            lambda: trace_memory.made_quietly(render_and_lay_out),
            lambda made: self._layout_ready(generation, snapshot, *made, anchor, fit, centre, colouring),
            self._layout_failed,
        )

    def _notice_if_waiting(self):
        if self.graphviz.busy:
            self.graph.set_notice("making the picture (Graphviz lays out a new shape)…")

    def _layout_ready(self, generation, snapshot, rendered, layout, colours, anchor, fit, centre, colouring):
        if generation != self._layout_generation:
            return  # the view changed again meanwhile; a newer picture is on its way
        made, rendered = rendered, self.session.adopt_render(snapshot, rendered)
        if rendered is None:
            return
        if rendered is not made or colouring[0] != self.session.colour_by or colouring[1] is not self.session.change:
            colours = None  # made for another picture or another colouring: the panel colours it afresh
        self.graph.set_notice("")
        key = (rendered.shape_key, RANKDIR)
        if self._group_inspection_pending:
            self._group_inspection_pending = False
            self._inspect_group(rendered)
        if layout is None and key == self._shown_key:
            self._show_graph(rendered, self.graph.view.newest_layout, anchor, fit, centre, colours)
            return
        if layout is None:  # too many boxes for Graphviz
            self.graph.view.clear()
            self._shown_key = None
            self.graph.set_notice(f"{len(rendered.nodes)} boxes are too many to lay out: focus a scope (breadcrumb) or choose a coarser level")
            self.graphShown.emit()
            return
        self._shown_key = key
        self._show_graph(rendered, layout, anchor, fit, centre, colours)

    def _layout_failed(self, error):
        self.graph.set_notice("")
        if isinstance(error, GraphvizNotFound):
            self.graph.view.clear()
            self._shown_key = None
            self.graph.set_notice("Graphviz is not installed: the graph cannot be drawn (everything else works)")
            if not self._graphviz_missing_told:
                self._graphviz_missing_told = True
                self.show_error("Graphviz not found", str(error))
        elif isinstance(error, GraphvizFailed):
            self.show_error("Graphviz failed", str(error))
        else:
            self.show_error("Layout failed", f"{type(error).__name__}: {error}")
        self.graphShown.emit()

    def _show_graph(self, rendered, layout, anchor, fit, centre=False, colours=None):
        selected = self.session.selection.visible
        trace, position = self.session.trace, self.session.position
        root = trace.loss_node if position is None else trace.position_loss_nodes[position]
        home = rendered.visible_id(root)

        def shown():
            trace_memory.settle()  # the new picture's items: never walked by a full collection
            selected = self.session.selection.visible  # it may have changed while a big picture was made
            if selected is not None and centre:
                self.graph.view.centre_on(selected, zoom_to_read=True)  # clicked through to it: show it
            elif selected is not None and anchor is None:
                self.graph.view.ensure_visible(selected)
            self.graphShown.emit()

        self.graph.show_graph(rendered, layout, self.session.colour_by, selected, anchor=anchor, fit=fit, home=home,
                              change=self.session.change, on_shown=shown, colours=colours)

    def _colour_changed(self):
        self.graph.set_change_available(self.session.change is not None)
        self.graph.set_colour_mode(self.session.colour_by)
        rendered = self.session.rendered_if_ready()  # one on its way is drawn in the new colours
        if rendered is not None and self._shown_key == (rendered.shape_key, RANKDIR):
            self.graph.recolour(rendered, self.session.colour_by, self.session.change)

    def _selection_changed(self):
        session, trace = self.session, self.session.trace
        sel = session.selection
        self.graph.view.set_selected(sel.visible)
        if sel.visible is not None:
            self.graph.view.ensure_visible(sel.visible)
        if sel.node is not None:
            attrs = trace.node_attributes(sel.node)
            self.inspector.show_node(trace, sel.node)
            self.attention.select_node(trace, sel.node)
            self.overview.mark(sel.node)
            if attrs["file"]:
                self.source.show_line(attrs["file"], attrs["line"], f"#{sel.node} was made here")
            elif attrs["kind"] == "param" and trace.config is not None:
                self.source.show_line(core.engine.model.__file__, _param_source_line(), f"{attrs['param']} entries are made here")
            else:
                self.source.clear_highlight("this value was not made by the model code")
        elif sel.visible is not None:
            rendered = session.rendered_if_ready()
            self._group_inspection_pending = rendered is None  # the inspector fills when the picture is made
            if rendered is not None:
                self._inspect_group(rendered)
            self.attention.select_node(trace, None)
            self.overview.mark(None)
        else:
            self.inspector.show_nothing()
            self.attention.select_node(trace, None)
            self.overview.mark(None)
        self._update_breadcrumb()

    def _inspect_group(self, rendered):
        sel = self.session.selection
        if sel.node is None and sel.visible is not None and rendered.shows(sel.visible):
            self.inspector.show_group(self.session.trace, rendered.node(sel.visible))

    def _update_breadcrumb(self):
        session, trace = self.session, self.session.trace
        if session.view is None:
            return
        if session.position is None:
            root = "loss of the whole step"
        elif session.position + 1 < len(trace.token_labels):
            t = session.position
            root = f"loss of position {t} ({trace.token_labels[t]} → {trace.token_labels[t + 1]})"
        else:  # a script's step whose tokens are unknown
            root = f"loss of position {session.position}"
        scope = trace.scope[session.selection.node] if session.selection.node is not None else ""
        self.graph.breadcrumb.set_path(root, session.view.scope or "", scope)
        self.graph.set_history(session.history.can_back(), session.history.can_forward())

    # ---- reacting to training ------------------------------------------------------------------
    def _busy_changed(self, busy):
        self.training_panel.set_busy(busy)
        for name in ("step", "run", "reset", "sample"):  # a script's step shown: they act on it, or not at all
            self.actions[name].setEnabled(not busy and self.script.allows(name))
        for name in ("rewind", "reset_size"):  # the built-in model's alone: a script keeps no states, has no size to set
            self.actions[name].setEnabled(not busy and not self.script.active)
        for name in ("open_data", "open_script"):
            self.actions[name].setEnabled(not busy)
        self.actions["cancel"].setEnabled(busy)

    def _advanced(self, advance):
        self.session.apply_advance(advance)
        if advance.trace is None:  # no new step to show: say where training stands all the same
            self._show_where_training_stands()

    def _rewound(self, advance):
        dropped = len(self.session.losses) - len(advance.losses)
        self.session.reset_training(advance.trace, losses=advance.losses, planned_steps=advance.planned_steps)
        if advance.trace is None:
            self._show_where_training_stands()
        if not advance.error:
            self.statusBar().showMessage(f"back at step {advance.step_index}: {dropped} later step{'s' if dropped != 1 else ''} dropped", 10000)

    def _diverged(self, advance):
        """A step blew up: say so, and offer to go back to the last step whose loss was finite."""
        last_finite = advance.diverged_at - 1
        earliest = self.training.trainer.snapshots.earliest
        text = f"{advance.error}."
        choices = ()
        if earliest is not None and earliest <= last_finite < len(self.session.losses):
            text += (f"\n\nStep {last_finite} was the last whose loss was finite ({self.session.losses[last_finite]:.4f}). "
                     f"Going back there retakes it: lower the learning rate first, or the same updates diverge again.")
            choices = ((f"Go back to step {last_finite}", lambda: self.rewind(last_finite)),)
        self.show_error("Training diverged", text, choices=choices)

    def _trainer_reset(self, advance):
        self.session.trainer = self.training.trainer  # a new file or a resumed state builds a new Trainer
        leaving_script = self.script.active
        if leaving_script:
            self.script.forget()  # the model's training is what is shown again
        if leaving_script and advance.trace is not None:
            self.session.reset_training(None, losses=advance.losses)
            self.show_unrelated_trace(advance.trace)
        else:
            self.session.reset_training(advance.trace, losses=advance.losses, planned_steps=advance.planned_steps)
        config = self.training.trainer.config
        # a resumed training state brings its own size: Reset keeps that one from now on
        self.size_overrides = size_overrides(self.preset_name, size_of(config))
        self.training_panel.set_config(self.preset_name, config.learning_rate, size_words(config))

