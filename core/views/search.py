"""Search over a Trace's nodes with a small query language, vectorised on its numpy columns.

Terms are separated by spaces and must all hold (AND):
    op:exp            the op (`+ * ** **-1 log exp relu const param`; `**` matches every power)
    scope:softmax     scope path contains the text; with * ? [ it is a glob on the whole path
                      (`scope:pos3/*/softmax`)
    param:lm_head     parameter matrix name contains the text (or glob), e.g. `param:layer0.attn_wq`
    kind:param        param, const, input, intermediate or loss
    pos:3             token position (-1 for parameters and the mean loss)
    id:123            one node
    grad>1e-2  data<=0  |grad|<1e-8  |data|>5   comparisons: < <= > >= = == !=
    nan  inf          data or grad is NaN / infinite (`finite` for the opposite)
    softmax           a bare word: scope contains it, or op or parameter name equals it
A malformed query raises ValueError with a one-line reason.
"""
import fnmatch
import re

import numpy as np

from core.trace.record import KINDS
from core.trace.index import index_of

_COMPARE = re.compile(r"^(\|?)(data|grad)(\|?)(<=|>=|==|!=|<|>|=)(.+)$")
_OPS = {
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
    "=": np.equal, "==": np.equal, "!=": np.not_equal,
}


def search(trace, query):
    """Ids (ascending numpy int array) of the nodes matching every term of `query`."""
    ix = index_of(trace)
    terms = query.split()
    if not terms:
        raise ValueError("empty search: give a term such as op:exp, scope:softmax or grad>1e-2")
    mask = np.ones(ix.n, dtype=bool)
    for term in terms:
        mask &= _term_mask(trace, ix, term)
    return np.flatnonzero(mask)


def _term_mask(trace, ix, term):
    lowered = term.lower()
    if lowered in ("nan", "inf", "finite"):
        if lowered == "nan":
            return np.isnan(trace.data) | np.isnan(trace.grad)
        if lowered == "inf":
            return np.isinf(trace.data) | np.isinf(trace.grad)
        return np.isfinite(trace.data) & np.isfinite(trace.grad)
    compare = _COMPARE.match(term.replace(" ", ""))
    if compare:
        return _compare_mask(trace, term, *compare.groups())
    if ":" in term:
        field, _, value = term.partition(":")
        if not value:
            raise ValueError(f"search term {term!r} has nothing after the colon")
        field = field.lower()
        if field == "op":
            return _op_mask(ix, value)
        if field == "scope":
            return _scope_mask(ix, value)
        if field == "param":
            return _param_mask(trace, ix, value)
        if field == "kind":
            if value not in KINDS:
                raise ValueError(f"unknown kind {value!r} in {term!r} (choose from {', '.join(KINDS)})")
            return ix.kind == value
        if field == "pos":
            return trace.pos == _integer(value, term)
        if field == "id":
            mask = np.zeros(ix.n, dtype=bool)
            i = _integer(value, term)
            if 0 <= i < ix.n:
                mask[i] = True
            return mask
        raise ValueError(f"unknown search field {field!r} in {term!r} (use op, scope, param, kind, pos, id)")
    if any(ch in term for ch in "<>=|"):
        raise ValueError(f"cannot read {term!r}: write comparisons like grad>1e-2 or |data|>5")
    return _scope_mask(ix, term) | (ix.op == term) | _param_mask(trace, ix, term, exact=True)


def _compare_mask(trace, term, bar_open, field, bar_close, op, number):
    if bar_open != bar_close:
        raise ValueError(f"unbalanced | in {term!r}: write |{field}|")
    try:
        threshold = float(number)
    except ValueError:
        raise ValueError(f"{number!r} in {term!r} is not a number") from None
    column = trace.data if field == "data" else trace.grad
    if bar_open:
        column = np.abs(column)
    with np.errstate(invalid="ignore"):
        return _OPS[op](column, threshold)


def _op_mask(ix, value):
    if value == "**":
        return ix.op == "**"
    if value.startswith("**"):
        mask = np.zeros(ix.n, dtype=bool)
        try:
            exponent = float(value[2:])
        except ValueError:
            raise ValueError(f"cannot read the exponent in op:{value}") from None
        for i, k in ix.exponent.items():
            mask[i] = k == exponent
        return mask
    known = set(np.unique(ix.op).tolist()) | {"+", "*", "**", "log", "exp", "relu", "const", "param"}
    if value not in known:
        raise ValueError(f"unknown op {value!r} (use one of + * ** log exp relu const param)")
    return ix.op == value


def _scope_mask(ix, pattern):
    names = ix.scope_names
    if any(ch in pattern for ch in "*?["):
        hits = [k for k, s in enumerate(names) if fnmatch.fnmatchcase(s, pattern)]
    else:
        hits = [k for k, s in enumerate(names) if pattern in s]
    wanted = np.zeros(len(names), dtype=bool)
    wanted[hits] = True
    return wanted[ix.scope_code]


def _param_mask(trace, ix, pattern, exact=False):
    mask = np.zeros(ix.n, dtype=bool)
    for name, ids in trace.param_nodes.items():
        if exact:
            hit = name == pattern
        elif any(ch in pattern for ch in "*?["):
            hit = fnmatch.fnmatchcase(name, pattern)
        else:
            hit = pattern in name
        if hit:
            mask[list(ids)] = True
    return mask


def _integer(value, term):
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{value!r} in {term!r} is not a whole number") from None
