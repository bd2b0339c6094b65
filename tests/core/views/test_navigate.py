"""Walking the recorded graph from one node: which attention weight a value is."""
import pytest

from core.engine.config import preset
from core.engine.train import Trainer
from core.views.navigate import attention_cell_of


@pytest.fixture(scope="module")
def trace(docs):
    return Trainer(docs, preset("original")).record()


def test_each_softmax_output_is_named_by_its_scope_and_place(trace):
    """The cell agrees with the scope the model put the value in (posQ/layerL/attn/headH/softmax),
    and the key is the value's place among that scope's outputs (the `*` values, made key by key)."""
    checked = 0
    for t in range(trace.positions):
        for layer in range(trace.config.n_layer):
            for head in range(trace.config.n_head):
                scope = f"pos{t}/layer{layer}/attn/head{head}/softmax"
                outputs = [n for n in range(trace.num_nodes) if trace.scope[n] == scope and trace.op[n] == "*"]
                assert len(outputs) == t + 1  # a query sees keys 0..t
                for key, node in enumerate(outputs):
                    cell = attention_cell_of(trace, node)
                    assert (cell.layer, cell.head, cell.query, cell.key) == (layer, head, t, key)
                    assert trace.pos[node] == t
                    checked += 1
    assert checked == trace.config.n_layer * trace.config.n_head * trace.positions * (trace.positions + 1) // 2


def test_other_values_are_no_attention_weight(trace):
    assert attention_cell_of(trace, trace.loss_node) is None
    exp_in_softmax = next(n for n in range(trace.num_nodes) if trace.scope[n].endswith("/softmax") and trace.op[n] == "exp")
    assert attention_cell_of(trace, exp_in_softmax) is None


def test_the_widest_enclosing_scope_under_the_limit_is_chosen(trace):
    from core.views.navigate import enclosing_scope_that_fits
    from core.views.view import View

    t = trace.positions - 1
    view = View.for_token(trace, t, level="scalar")
    node = int(trace.attention_nodes[0, 1, t, 0])
    scope = trace.scope[node]
    parts = scope.split("/")
    prefixes = ["/".join(parts[:d]) for d in range(len(parts), 0, -1)]  # inside out
    sizes = {}
    for prefix in prefixes:
        view.focus(prefix)
        sizes[prefix] = len(view.render().nodes)
    view.focus(None)
    whole = len(view.render().nodes)
    # a limit between two neighbouring sizes picks the inner one of them
    inner, outer = prefixes[1], prefixes[2]  # .../attn/head1 and .../attn
    assert sizes[inner] < sizes[outer] < whole
    assert enclosing_scope_that_fits(view, scope, sizes[inner]) == inner
    assert enclosing_scope_that_fits(view, scope, sizes[outer]) == outer
    assert enclosing_scope_that_fits(view, scope, sizes[prefixes[0]] - 1) is None  # not even the innermost fits
    assert view.scope is None and len(view.render().nodes) == whole  # the view is left as it was


@pytest.fixture(scope="module")
def two_steps(docs):
    trainer = Trainer(docs, preset("original"))
    return trainer.record("emma"), trainer.record("nolan")  # "emma" repeats a letter: its ids shift


def test_a_value_is_found_again_in_another_step_by_the_part_it_plays_not_by_its_id(two_steps):
    from core.views.navigate import same_value

    a, b = two_steps
    shared = min(a.positions, b.positions)
    cells = [(layer, head, q, k) for layer in range(a.attention_nodes.shape[0]) for head in range(a.attention_nodes.shape[1])
             for q in range(shared) for k in range(q + 1)]
    moved = 0
    for cell in cells:  # every attention weight maps onto the same cell's weight
        assert same_value(a, int(a.attention_nodes[cell]), b) == int(b.attention_nodes[cell]), cell
        moved += int(a.attention_nodes[cell]) != int(b.attention_nodes[cell])
    assert moved  # the ids differ: following the id would have picked other values
    for t in range(shared):
        assert same_value(a, a.position_loss_nodes[t], b) == b.position_loss_nodes[t]
    # a parameter entry is itself; a value of a position the other step does not have, nothing
    entry = a.param_nodes["lm_head"][5]
    found = same_value(a, entry, b)
    assert found is not None and b.node_attributes(found)["param"] == "lm_head"
    assert (b.details.row[found], b.details.col[found]) == (a.details.row[entry], a.details.col[entry])
    assert same_value(b, b.position_loss_nodes[b.positions - 1], a) is None
