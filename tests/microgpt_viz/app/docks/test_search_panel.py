"""The search dock runs its query again on a new step only while it is shown; hidden, it catches up
when shown (or when Enter is pressed), so a Step never pays for a list nobody sees."""
import pytest

pytest.importorskip("pytestqt")

from core.engine.config import preset  # noqa: E402
from core.engine.train import Trainer  # noqa: E402
from microgpt_viz.app.docks import search_panel  # noqa: E402
from microgpt_viz.app.docks.search_panel import SearchPanel  # noqa: E402


@pytest.fixture
def traces(docs):
    trainer = Trainer(docs, preset("original"))
    return trainer.record("emma"), trainer.record("olivia")


def test_a_hidden_search_dock_runs_its_query_on_the_new_step_when_shown(qtbot, traces, monkeypatch):
    first, second = traces
    runs = []
    real = search_panel.search
    monkeypatch.setattr(search_panel, "search", lambda trace, text: runs.append(trace) or real(trace, text))
    panel = SearchPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_trace(first)
    panel.query.setText("op:exp")
    panel.query.returnPressed.emit()
    assert runs == [first] and panel.results
    panel.hide()
    panel.set_trace(second)
    assert runs == [first]  # hidden: nothing run
    panel.show()
    assert runs == [first, second]  # shown: the list is the new step's
    assert panel.results == [int(n) for n in real(second, "op:exp")]
    panel.hide()
    panel.set_trace(first)
    panel.query.returnPressed.emit()  # Enter on a hidden, stale list: the new step's matches first
    assert runs[-1] is first and panel.results == [int(n) for n in real(first, "op:exp")]
    panel.set_trace(second)
    panel.show()
    panel.set_trace(first)  # shown: run at once
    assert runs[-2:] == [second, first]
