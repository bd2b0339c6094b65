"""The app's model layer without any window: Session, History, stepping, --select parsing."""
import pytest

from core.engine.config import preset
from core.engine.train import Trainer
from microgpt_viz.session import stepping
from microgpt_viz.session.history import History, Location
from microgpt_viz.session.select_script import Action, SelectError, parse
from core.views.view import View
from microgpt_viz.session.model import Session, scalar_of

DOCS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper"]


@pytest.fixture(scope="module")
def trainer():
    return Trainer(DOCS, preset("original"))


@pytest.fixture(scope="module")
def first_trace(trainer):
    """The recorded step 0, shared: a Trace is a frozen snapshot no Session changes."""
    trainer.reset()
    return stepping.record_next(trainer)


@pytest.fixture
def session(trainer, first_trace):
    trainer.reset()
    s = Session(trainer)
    s.position = 1
    s.set_trace(first_trace)
    return s


def test_history_visits_back_forward_and_drops_the_forward_part():
    h = History()
    a, b, c = Location(position=0), Location(position=1), Location(position=2)
    h.visit(a)
    h.visit(b)
    h.visit(b)  # same place twice is one entry
    assert h.entries == [a, b]
    assert h.back() == a and h.can_forward()
    h.visit(c)
    assert h.entries == [a, c] and not h.can_forward()
    assert h.back() == a and h.back() == a  # at the start, back stays put


def test_first_trace_selects_the_loss_being_explained(session):
    trace = session.trace
    assert session.selection.node == trace.position_loss_nodes[1]
    assert session.selection.visible == session.rendered().visible_id(trace.position_loss_nodes[1])


def test_changing_token_carries_open_groups_over_to_the_new_position(session):
    changes = []
    session.subscribe(changes.append)
    session.expand("pos1/layer0/attn/head0/softmax")
    session.select_position(2)
    assert session.position == 2
    assert "pos2/layer0/attn/head0/softmax" in session.view.expanded
    assert session.selection.node == session.trace.position_loss_nodes[2]
    assert "view" in changes and "selection" in changes


def test_select_node_opens_what_hides_it_and_switches_cone_when_outside(session):
    trace = session.trace
    weight = int(trace.attention_nodes[0, 1, 1, 0])
    session.select_node(weight)
    assert session.selection == session.selection.__class__(visible=f"n{weight}", node=weight)
    assert f"n{weight}" in session.rendered()._by_id
    # a node of a later position is outside position 1's cone: the view moves to its own token
    later = int(trace.position_loss_nodes[3])
    session.select_node(later)
    assert session.position == 3
    assert session.selection.visible == f"n{later}" and scalar_of(session.selection.visible) == later


def test_back_and_forward_restore_token_and_selection(session):
    first = session.location()
    session.select_position(2)
    session.select_node(int(session.trace.position_loss_nodes[2]))
    session.back()
    session.back()
    assert session.location() == first
    session.forward()
    assert session.position == 2


def test_a_new_step_keeps_expansion_focus_and_token(session, trainer):
    session.expand("pos1/layer0/mlp/fc1")
    session.focus("pos1/layer0")
    advance = stepping.advance(trainer, 1)
    old = session.trace
    session.apply_advance(advance)
    assert session.trace is not old and session.trace.step == 1
    assert session.losses == advance.losses and len(session.losses) == 1
    assert "pos1/layer0/mlp/fc1" in session.view.expanded
    assert session.view.scope == "pos1/layer0"
    assert session.position == 1


def test_advance_stops_when_asked_and_records_the_next_step(trainer):
    trainer.reset()
    seen = []
    result = stepping.advance(trainer, 10, should_stop=lambda: len(seen) >= 3, on_step=lambda done, loss: seen.append(loss))
    assert result.stopped_early and len(result.losses) == 3 == len(seen)
    assert result.step_index == 3 == trainer.step_index
    assert result.trace.step == 3


def test_advance_reports_a_diverged_step_and_keeps_the_updates_before_it():
    wild = Trainer(DOCS, preset("original", learning_rate=1e4))
    result = stepping.advance(wild, 10)
    assert result.error and "diverged" in result.error
    assert len(result.losses) == wild.step_index < 10
    assert len(wild.losses) == len(result.losses)


def test_sampling_in_the_app_leaves_the_training_rng_alone(trainer):
    trainer.reset()
    state = trainer.rng.getstate()
    names = stepping.sample_names(trainer, 5)
    assert len(names) == 5 and all(isinstance(n, str) for n in names)
    assert trainer.rng.getstate() == state
    assert stepping.sample_names(trainer, 5) == names  # same step, same names


def test_select_script_parses_and_rejects():
    actions = parse("token=2, expand=pos2/layer0/attn, 123, grab=attention, size=800x600, zoom=1.5, token=all, cell=0:2:3:1")
    assert actions == [
        Action("token", 2), Action("expand", "pos2/layer0/attn"), Action("node", 123), Action("grab", "attention"),
        Action("size", (800, 600)), Action("zoom", 1.5), Action("token", None), Action("cell", (0, 2, 3, 1)),
    ]
    for bad in ("colour=pink", "grab=everything", "node=-3", "size=big", "frobnicate=1", "expand=", "cell=0:1"):
        with pytest.raises(SelectError):
            parse(bad)


def test_released_traces_are_taken_apart_only_once_nobody_uses_them(trainer, monkeypatch):
    import time

    from microgpt_viz.session import trace_memory

    monkeypatch.setattr(trace_memory, "_POLL_S", 0.05)  # the janitor looks again this often
    janitor = trace_memory._janitor()
    kept, dropped = stepping.record_next(trainer), stepping.record_next(trainer)
    # Watched through the graphs' node tables, which the janitor empties when it takes a trace
    # apart (holding them keeps neither trace nor graph alive): its counter also counts traces
    # that other tests released and let go of while this one runs.
    kept_nodes, dropped_nodes = kept.graph._node, dropped.graph._node
    assert len(kept_nodes) == len(dropped_nodes) == len(kept.op) > 0
    before = janitor.dismantled
    trace_memory.release(kept)
    trace_memory.release(dropped)
    del dropped
    deadline = time.monotonic() + 30
    while dropped_nodes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not dropped_nodes and janitor.dismantled >= before + 1  # taken apart, and counted
    time.sleep(2 * trace_memory._POLL_S)
    assert len(kept_nodes) == len(kept.op) > 0  # the one still referenced stays whole


def test_a_fine_level_too_big_to_draw_opens_around_the_selection(session):
    trace = session.trace
    node = int(trace.attention_nodes[0, 2, 1, 0])
    session.select_node(node)
    session.set_level("scalar")
    whole = len(session.rendered().nodes)
    session.set_level("module")
    limit = whole - 1  # the whole cone no longer fits
    focused = session.set_level("scalar", limit=limit)
    assert focused is not None and trace.scope[node].startswith(focused + "/")
    assert session.view.scope == focused and session.view.level == "scalar"
    assert len(session.rendered().nodes) <= limit
    assert session.selection.node == node and session.selection.visible == f"n{node}"  # still shown, as itself
    # without a limit (or when it fits) the focus is left alone
    session.focus(None)
    assert session.set_level("scalar") is None and session.view.scope is None


def test_a_diverged_step_is_named_by_its_index_from_zero():
    wild = Trainer(DOCS, preset("original", learning_rate=1e4))
    result = stepping.advance(wild, 10)
    assert result.diverged_at == wild.step_index  # the step that could not be taken is the next one
    assert result.error.startswith(f"step {result.diverged_at} diverged")
    assert result.details is None  # a divergence needs no traceback


def test_an_unexpected_failure_keeps_the_steps_before_it_and_carries_its_traceback():
    fresh = Trainer(DOCS, preset("original"))
    real_step = fresh.step

    def step_then_fail(record=False):
        if fresh.step_index == 2:
            raise KeyError("a bug")
        return real_step(record)

    fresh.step = step_then_fail
    result = stepping.advance(fresh, 5, record=False)
    assert len(result.losses) == 2 == result.step_index == fresh.step_index
    assert result.error == "KeyError: 'a bug'" and result.diverged_at is None
    assert "step_then_fail" in result.details


def test_rewind_hands_over_the_whole_history_and_the_step_gone_back_to():
    fresh = Trainer(DOCS, preset("original"))
    stepping.advance(fresh, 6, record=False)
    result = stepping.rewind(fresh, 4)
    assert result.error is None and result.step_index == 4 == fresh.step_index
    assert result.losses == fresh.losses and len(result.losses) == 4
    assert result.trace.step == 4
    session = Session(fresh)
    session.reset_training(result.trace, losses=result.losses, planned_steps=result.planned_steps)
    assert session.step_index == 4 and session.planned_steps == fresh.planned_steps


def test_rewind_past_the_kept_history_says_why_in_one_line():
    fresh = Trainer(DOCS, preset("original"))
    stepping.advance(fresh, 2, record=False)
    result = stepping.rewind(fresh, 7)
    assert "not between 0 and the current step 2" in result.error and result.details is None
    assert result.step_index == 2 and result.losses == fresh.losses  # nothing moved


def test_a_step_closes_what_navigation_opened_and_keeps_what_the_user_opened(session, trainer):
    session.expand("pos1/layer0/mlp")
    baseline = set(session.view.expanded)
    trace = session.trace
    for query_position in (0, 1):  # two click-throughs to attention weights, each opening its head
        session.select_node(int(trace.attention_nodes[0, 2, query_position, 0]))
    session.select_position(1)
    last = int(trace.attention_nodes[0, 3, 1, 1])
    session.select_node(last)  # the value on screen when Step is pressed
    assert len(session.view.expanded) > len(baseline) + 2
    session.apply_advance(stepping.advance(trainer, 1))
    assert session.trace.step == 1
    kept = set(session.view.expanded)
    assert baseline <= kept  # what the user opened, and the level's own groups
    # of what navigation opened, only the way to the selected value stays open
    path_groups = {g for g in kept - baseline}
    assert path_groups and all(g.startswith("pos1/layer0/attn/head3") or "pos1/layer0/attn/head3".startswith(g) for g in path_groups)
    assert session.selection.node == last and session.selection.visible == f"n{last}"


def test_a_token_switch_carries_only_what_the_user_opened(session):
    session.expand("pos1/layer0/mlp")
    weight = int(session.trace.attention_nodes[0, 2, 1, 0])
    session.select_node(weight)  # opens the head's softmax and what hides the weight in it
    assert session.rendered().visible_id(weight) == f"n{weight}"
    session.select_position(2)
    fresh = View.for_token(session.trace, 2).expand("pos2/layer0/mlp")
    assert session.view.expanded == fresh.expanded


def test_open_groups_stay_bounded_over_many_steps_of_navigation(session, trainer):
    for step in range(6):
        trace = session.trace
        heads = trace.attention_nodes.shape[1]
        for jump in range(3):  # click-through to a different weight every time
            query = (step + jump) % trace.positions
            session.select_node(int(trace.attention_nodes[0, (step + jump) % heads, query, query // 2]))
        session.apply_advance(stepping.advance(trainer, 1))
        selected = session.selection.node
        # no more than a fresh view opens to show the value selected last
        fresh = View.for_token(session.trace, session.position)
        if selected is not None:  # else it was beyond the new step's nodes, and nothing stays open for it
            fresh.reveal(selected)
        assert session.view.expanded == fresh.expanded, step


def test_a_group_the_user_closed_stays_closed_over_a_step_and_a_token_switch(session, trainer):
    opened_by_level = "pos1/layer0/attn"
    assert opened_by_level in session.view.expanded
    session.toggle(opened_by_level)
    session.apply_advance(stepping.advance(trainer, 1))
    assert opened_by_level not in session.view.expanded
    session.select_position(2)
    assert "pos2/layer0/attn" not in session.view.expanded and "pos2/layer0" in session.view.expanded


def test_a_selected_value_stays_the_same_part_of_the_model_over_steps_not_the_same_node_id(session, trainer):
    layer, head, query, key = 0, 1, 3, 2  # every doc here has a position 3
    followed = 0
    for _ in range(5):
        trace = session.trace
        session.select_node(int(trace.attention_nodes[layer, head, query, key]))
        session.apply_advance(stepping.advance(trainer, 1))
        new = session.trace
        assert session.selection.node == int(new.attention_nodes[layer, head, query, key])  # the same weight
        assert session.selection.visible == session.rendered().visible_id(session.selection.node)
        followed += int(trace.attention_nodes[layer, head, query, key]) != session.selection.node
    assert followed  # at least one step numbered it differently: the old id was another value there


def test_recording_in_the_app_never_walks_the_frozen_objects(trainer, monkeypatch):
    """The app freezes every object itself (trace_memory); gc.get_freeze_count walks them all (tens
    of milliseconds holding the GIL in a long session), so recording must not ask it."""
    import gc

    from microgpt_viz.session import trace_memory  # noqa: F401 - importing it is what tells core

    def walked():
        raise AssertionError("gc.get_freeze_count() walked the frozen objects")

    monkeypatch.setattr(gc, "get_freeze_count", walked)
    trace = stepping.record_next(trainer)
    assert trace is not None and trace.num_nodes > 0


def test_work_made_quietly_runs_with_the_collector_paused_and_leaves_what_it_made_frozen():
    import gc

    from microgpt_viz.session import trace_memory

    seen = {}

    def render_like():
        seen["collecting"] = gc.isenabled()
        return [[k] for k in range(5000)]  # containers a full collection would walk (lists are always tracked)

    assert gc.isenabled()
    frozen_before = gc.get_freeze_count()
    made = trace_memory.made_quietly(render_like)
    assert seen["collecting"] is False and gc.isenabled()  # paused for the work, on again after
    assert gc.get_freeze_count() >= frozen_before + len(made)  # never walked by a full collection
    gc.unfreeze()  # the test process's own objects go back to the collector


def test_a_failing_work_still_turns_the_collector_back_on():
    import gc

    from microgpt_viz.session import trace_memory

    def fails():
        raise ValueError("no")

    with pytest.raises(ValueError):
        trace_memory.made_quietly(fails)
    assert gc.isenabled()
