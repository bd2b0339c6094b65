"""Browsing a step in the window reads the Trace's columns: the networkx graph (~2 KB a node)
is never built on the app's account."""


def test_browsing_never_builds_the_networkx_graph(window, settle):
    session = window.session
    trace = session.trace
    assert trace is not None and trace.built_graph is None
    session.select_position(1)
    settle(window)
    window.select_attention_cell(0, 2, 3, 1)
    settle(window)
    node = session.selection.node
    assert window.inspector.node == node
    assert window.inspector.inputs.rowCount() == int((trace.edges.dst == node).sum()) == 2  # exp * total**-1
    assert window.source.line == trace.node_attributes(node)["line"] > 0
    window.search.run("op:exp pos:2")
    settle(window)
    assert len(window.search.results) > 0
    window.go_to_node(int(trace.param_nodes["wte"][0]))
    settle(window)
    assert window.inspector.title.text().startswith(f"#{trace.param_nodes['wte'][0]}")
    assert session.trace is trace and trace.built_graph is None
