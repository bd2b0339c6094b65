"""The words on a collapsed group's box: the length of the vector it hands on, apart from its count of scalar ops."""
import re

import pytest

from core.engine.config import preset
from core.engine.train import Trainer
from core.views.export import to_dot
from core.views.rendered import box_text
from core.views.view import View

CONFIG = preset("original")


@pytest.fixture(scope="module")
def trace(docs):
    return Trainer(docs, CONFIG).record("emma")


def dot_label(dot, node_id):
    line = next(l for l in dot.splitlines() if l.strip().startswith(f'"{node_id}" ['))
    return re.search(r'label="((?:[^"\\]|\\.)*)"', line).group(1)


def leaving_scope(trace, scope):
    """Values of `scope` that something outside it uses, counted on the recorded networkx graph."""
    graph = trace.graph
    inside = [v for v, attrs in graph.nodes(data=True) if attrs["scope"] == scope]
    return [v for v in inside if any(graph.nodes[w]["scope"] != scope for w in graph.successors(v))]


def test_q_says_how_long_its_vector_is_and_how_many_ops_made_it(trace):
    q = View.for_token(trace, 3).render().node("pos3/layer0/attn/q")
    assert len(leaving_scope(trace, "pos3/layer0/attn/q")) == CONFIG.n_embd  # q hands on one vector of n_embd
    assert q.outputs == CONFIG.n_embd
    # q = W x: n_embd² products and as many additions in the sums; no parameter or constant is inside q's scope
    assert q.ops == q.count == 2 * CONFIG.n_embd**2
    assert box_text(q) == ["q", f"{CONFIG.n_embd} values · {q.ops} ops"]


def test_exports_stack_the_words_or_put_them_on_one_line(trace):
    rendered = View.for_token(trace, 3).render()
    q = rendered.node("pos3/layer0/attn/q")
    assert dot_label(to_dot(rendered, "light"), q.id) == f"q\\n16 values · {q.ops} ops"
    assert dot_label(to_dot(rendered, "slides"), q.id) == f"q · 16 values · {q.ops} ops"


def test_a_block_of_blocks_is_no_vector_and_gets_only_its_op_count(trace):
    rendered = View.for_token(trace, 3).collapse("pos3/layer0").render()
    layer = rendered.node("pos3/layer0")
    assert layer.outputs == 0
    assert box_text(layer) == ["layer0", f"{layer.ops} ops"]
    assert layer.ops == layer.count > 2 * CONFIG.n_embd**2  # more than its q alone


def test_a_parameter_matrix_counts_values_and_says_it_is_a_parameter(trace):
    rendered = View.for_token(trace, 3).render()
    head_matrix, head_block = rendered.node("params/lm_head"), rendered.node("pos3/lm_head")
    assert box_text(head_matrix) == ["param lm_head", f"{head_matrix.count} values"]
    assert head_matrix.ops == 0
    # the block that multiplies by it reads differently
    assert box_text(head_block)[0] == "lm_head" and "ops" in box_text(head_block)[1]
    assert dot_label(to_dot(rendered, "light"), head_matrix.id).startswith("param lm_head\\n")


def test_a_vector_whose_label_gives_its_length_adds_its_op_count_only_when_it_differs(trace):
    rendered = View.for_token(trace, 3, level="vector").render()
    products = rendered.node("pos3/layer0/attn/q#*@0")
    sums = rendered.node("pos3/layer0/attn/q#sum@1")
    assert box_text(products) == [f"{products.count} × *"]  # one product per value: the label says it
    assert box_text(sums) == [f"{CONFIG.n_embd} × sum({CONFIG.n_embd})", f"{sums.ops} ops"]
    assert sums.ops == CONFIG.n_embd**2
