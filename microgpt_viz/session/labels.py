"""Short human names for scalar nodes and numbers, shared by the inspector, search and tooltips."""
import math
import os

OP_NAMES = {
    "+": "add", "*": "multiply", "**": "power", "log": "log", "exp": "exp", "relu": "relu",
    "const": "constant", "param": "parameter",
}


def number(x, digits=6):
    """A float short enough for a table cell, never in a misleading fixed-point form."""
    if x is None:
        return ""
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if 1e-4 <= abs(x) < 1e5:
        return f"{x:.{digits}g}"
    return f"{x:.{max(digits - 2, 2)}e}"


def op_text(attrs):
    """`**-0.5` for a power, else the op."""
    if attrs["op"] == "**":
        exponent = attrs.get("exponent")
        return f"**{exponent:g}" if exponent is not None else "**"
    return attrs["op"]


def parameter_text(attrs):
    """`layer0.attn_wq[3][5]`, or '' if the node is not a parameter."""
    if not attrs.get("param"):
        return ""
    return f"{attrs['param']}[{attrs['row']}][{attrs['col']}]"


def node_text(trace, node, relative_to=None):
    """One line naming a node: `wte[4][3]`, `const 0.25`, `#1234 exp  (pos3/softmax)`.

    With `relative_to` (a scope path), a node of that same scope omits it and others show
    only where their path departs from it (`…/out`), so tables of neighbours stay short.
    """
    attrs = trace.node_attributes(node)
    if attrs["kind"] == "param":
        return parameter_text(attrs)
    if attrs["op"] == "const":
        return f"const {number(attrs['data'], 4)}"
    scope = attrs["scope"]
    if relative_to is not None:
        if scope == relative_to:
            return f"#{node} {op_text(attrs)}"
        scope = _relative_scope(scope, relative_to)
    return f"#{node} {op_text(attrs)}  ({scope})"


def _relative_scope(scope, base):
    """`pos3/layer0/attn/head1/out` seen from `pos3/layer0/attn/head1/softmax`: `…/out`."""
    parts, base_parts = scope.split("/"), base.split("/")
    common = 0
    while common < min(len(parts), len(base_parts)) and parts[common] == base_parts[common]:
        common += 1
    if common == 0:
        return scope
    return "…/" + "/".join(parts[common:]) if common < len(parts) else "/".join(parts)


def source_text(attrs):
    """`model.py:88`, or '' for nodes made outside the model code (parameters, inputs)."""
    if not attrs.get("file"):
        return ""
    return f"{os.path.basename(attrs['file'])}:{attrs['line']}"
