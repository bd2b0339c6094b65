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
