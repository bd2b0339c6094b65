"""Numpy tables over one Trace that views, search and layout share, built once per Trace.

Walking 140k nodes one at a time is slow; this index turns the Trace's columns into the
flat arrays views need (edges, predecessor and successor lists in CSR form) and computes the
grouping every view uses:

- scope groups: every prefix of a scope path (`pos2`, `pos2/layer0`, ...);
- vectors: inside one scope, the values made by the same op at the same depth of that
  scope's own computation (the 16 `sum`s of q, the 256 products before them);
- sums: a chain `0 + a + b + ...` made by Python's sum(), shown as one `sum(16)` value.

Each node gets a path of group numbers from the outermost scope down to its sum chain, so
a view can find what is visible with one vectorised lookup.
"""
import weakref
from dataclasses import dataclass

import numpy as np

from core.trace.columns import chunked_array
from core.trace.per_trace import per_trace

SCOPE, VECTOR, SUM = 0, 1, 2  # group kinds

@dataclass
class Group:
    id: str  # stable name: a scope path, `scope#op@depth` for a vector, `s<node>` for a sum
    kind: int  # SCOPE, VECTOR or SUM
    parent: int  # group number of the enclosing group, -1 at the top
    depth: int  # 0 for top-level scopes, +1 per nesting
    label: str  # short text for a box: the last scope name, `q: 16 × sum(16)`, `sum(16)`
    scope: str  # the scope path the group lies in
    node: int = -1  # for a sum: the node holding the total
    units: int = 0  # for a vector: how many values or sums it holds


def csr(keys, values, n):
    """indptr, sorted values: the values of key k are values[indptr[k]:indptr[k+1]]."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, values[order], order


def gather(indptr, items, rows):
    """Concatenation of the CSR rows `rows` (vectorised: no Python loop over rows)."""
    starts = indptr[rows]
    counts = indptr[rows + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=items.dtype)
    offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
    return items[offsets + np.arange(total)]


class TraceIndex:
    @property
    def trace(self):
        trace = self._trace_ref()
        if trace is None:
            raise ReferenceError("the trace of this index is gone")
        return trace

    def __init__(self, trace):
        # Only a weak reference: the cache is keyed weakly by the trace, and a strong one
        # here would keep every indexed step (100+ MB each) alive for ever.
        self._trace_ref = weakref.ref(trace)
        n = self.n = trace.num_nodes
        # The Trace's edges come sorted by consumer then slot: the inputs of v in argument order.
        edges = trace.edges
        self.src = edges.src.astype(np.int64)
        self.dst = edges.dst.astype(np.int64)
        self.slot = edges.slot.astype(np.int8)
        self.local_grad = edges.local_grad
        edge_ids = np.arange(len(self.src))
        self.pred_ptr, self.pred_edge, _ = csr(self.dst, edge_ids, n)
        self.succ_ptr, self.succ_edge, _ = csr(self.src, edge_ids, n)
        self.out_degree = np.diff(self.succ_ptr)

        self.op = chunked_array(trace.op)
        self.kind = chunked_array(trace.kind)
        self.is_const = self.kind == "const"
        self.is_param = self.kind == "param"
        # the data of a constant input of each node (NaN if none), for labels such as `* 0.5`
        self.const_operand = np.full(n, np.nan)
        from_const = self.is_const[self.src]
        self.const_operand[self.dst[from_const]] = trace.data[self.src[from_const]]
        self.exponent = {}
        self.param_name = {}
        details = trace.details
        for i in np.flatnonzero(self.op == "**").tolist():
            self.exponent[i] = float(details.exponent[i])
        for i in np.flatnonzero(self.is_param).tolist():
            self.param_name[i] = f"{details.param[i]}[{details.row[i]}][{details.col[i]}]"

        scopes = sorted(set(trace.scope))
        self.scope_names = scopes
        code = {s: k for k, s in enumerate(scopes)}
        self.scope_code = np.array([code[s] for s in trace.scope], dtype=np.int32)
        self._build_groups()

    # ---- inputs and consumers -------------------------------------------------------
    def input_edges(self, v):
        return self.pred_edge[self.pred_ptr[v] : self.pred_ptr[v + 1]]

    def output_edges(self, v):
        return self.succ_edge[self.succ_ptr[v] : self.succ_ptr[v + 1]]

    def ancestors(self, roots):
        """Boolean mask of the roots and everything they were computed from."""
        mask = np.zeros(self.n, dtype=bool)
        frontier = np.unique(np.asarray(roots, dtype=np.int64))
        mask[frontier] = True
        while len(frontier):
            inputs = self.src[gather(self.pred_ptr, self.pred_edge, frontier)]
            inputs = np.unique(inputs[~mask[inputs]])
            mask[inputs] = True
            frontier = inputs
        return mask

    def op_label(self, i):
        op = self.op[i]
        if op == "**":
            return f"**{_number(self.exponent[i])}"
        return str(op)

    # ---- grouping ---------------------------------------------------------------------
    def _build_groups(self):
        n = self.n
        self.groups = []
        self.group_number = {}
        scope_groups = {}  # scope path -> its group number
        for path in self.scope_names:
            parts = path.split("/")
            for depth in range(len(parts)):
                prefix = "/".join(parts[: depth + 1])
                if prefix not in scope_groups:
                    parent = scope_groups["/".join(parts[:depth])] if depth else -1
                    scope_groups[prefix] = self._add(Group(prefix, SCOPE, parent, depth, parts[depth], prefix))
        self.scope_group = scope_groups
        has_children = np.zeros(len(self.groups), dtype=bool)
        for g in self.groups:
            if g.parent >= 0:
                has_children[g.parent] = True

        chain_of = self._sum_chains()
        self.chain_of = chain_of
        unit = np.where(chain_of >= 0, chain_of, np.arange(n))
        # const nodes join the unit of their first consumer (the 0 of a sum is in its chain already);
        # a consumer is never a const, so its unit is settled before any const reads it
        joining = np.flatnonzero(self.is_const & (chain_of < 0) & (self.out_degree > 0))
        unit[joining] = unit[self.dst[self.succ_edge[self.succ_ptr[joining]]]]
        self.unit = unit
        depth = self._unit_depths(unit)

        # vectors: the units of one scope made by the same op at the same depth
        op_labels = self.op.astype(object)
        for i, k in self.exponent.items():
            op_labels[i] = f"**{_number(k)}"
        op_labels[chain_of >= 0] = "sum"
        op_names, op_code = np.unique(op_labels[unit].astype(str), return_inverse=True)
        n_ops, n_depths = len(op_names), int(depth.max()) + 1
        key = (self.scope_code[unit].astype(np.int64) * n_ops + op_code) * n_depths + depth[unit]
        keys, key_of, members = np.unique(key, return_inverse=True, return_counts=True)
        is_unit = (unit == np.arange(n)) & ~self.is_const
        units = np.bincount(key_of[is_unit], minlength=len(keys))
        scope_sizes = np.bincount(self.scope_code, minlength=len(self.scope_names))
        # addends of each sum chain, and their range over the sums of each vector
        in_chain = chain_of >= 0
        sizes = np.bincount(chain_of[in_chain], minlength=n)
        zeros = np.bincount(chain_of[in_chain & self.is_const], minlength=n)
        addends = sizes - 2 * zeros + 1  # k additions add k + 1 terms, one of them the leading 0
        finals = np.unique(chain_of[in_chain])
        fewest = np.full(len(keys), np.iinfo(np.int64).max)
        most = np.zeros(len(keys), dtype=np.int64)
        np.minimum.at(fewest, key_of[finals], addends[finals])
        np.maximum.at(most, key_of[finals], addends[finals])
        vector_group = np.full(len(keys), -1, dtype=np.int64)
        for k, packed in enumerate(keys):
            scope_code, rest = divmod(int(packed), n_ops * n_depths)
            op_index, d = divmod(rest, n_depths)
            scope_path = self.scope_names[scope_code]
            sg = scope_groups[scope_path]
            whole_scope = members[k] == scope_sizes[scope_code] and not has_children[sg]
            if units[k] <= 1 or whole_scope or scope_path.startswith("params"):
                continue  # the vector would only repeat its scope or one value
            op = str(op_names[op_index])
            leaf = scope_path.rsplit("/", 1)[-1]
            shown = op
            if op == "sum":
                shown = f"sum({most[k]})" if fewest[k] == most[k] else f"sum({fewest[k]}-{most[k]})"
            vector_group[k] = self._add(
                Group(f"{scope_path}#{op}@{d}", VECTOR, sg, self.groups[sg].depth + 1,
                      f"{leaf}: {units[k]} × {shown}", scope_path, units=int(units[k]))
            )

        # innermost group of each node: its sum, else its vector, else its scope
        scope_group_of_code = np.array([scope_groups[s] for s in self.scope_names], dtype=np.int64)
        innermost = np.where(vector_group[key_of] >= 0, vector_group[key_of], scope_group_of_code[self.scope_code[unit]])
        sum_number = np.full(n, -1, dtype=np.int64)
        for final in finals.tolist():
            parent = int(innermost[final])
            sum_number[final] = self._add(
                Group(f"s{final}", SUM, parent, self.groups[parent].depth + 1, f"sum({addends[final]})",
                      self.scope_names[self.scope_code[final]], node=final)
            )
        innermost[in_chain] = sum_number[chain_of[in_chain]]

        # path matrix: row i = group numbers from the top scope down to node i's innermost, -1 padded
        parents = np.array([g.parent for g in self.groups], dtype=np.int64)
        group_depths = np.array([g.depth for g in self.groups], dtype=np.int64)
        # one spare column, so every row ends in -1 ("the value itself")
        max_depth = int(group_depths.max()) + 2
        # the same for every group (a group sits at its depth, below its parent's path), a depth at a time
        group_paths = np.full((len(self.groups), max_depth), -1, dtype=np.int32)
        for d in range(max_depth - 1):
            at = np.flatnonzero(group_depths == d)
            group_paths[at, :d] = group_paths[parents[at], :d]
            group_paths[at, d] = at
        self.paths = group_paths[innermost]
        self.innermost = innermost
        self.group_parent = parents
        self.group_kind = np.array([g.kind for g in self.groups], dtype=np.int8)
        self.group_depth = np.array([g.depth for g in self.groups], dtype=np.int32)
        self.group_has_children = np.zeros(len(self.groups), dtype=bool)
        self.group_has_children[parents[parents >= 0]] = True
        self.scope_has_child_scope = np.zeros(len(self.groups), dtype=bool)
        is_scope_child = (self.group_kind == SCOPE) & (parents >= 0)
        self.scope_has_child_scope[parents[is_scope_child]] = True

    def _add(self, group):
        number = len(self.groups)
        self.groups.append(group)
        self.group_number[group.id] = number
        return number

    def _sum_chains(self):
        """chain_of[i] = node holding the total of the sum chain i belongs to, else -1.

        A chain link is `partial + a` whose partial sum is a `+` of the same scope feeding
        nothing else; a chain starts at `a + 0` (Python's sum() starts from 0).
        """
        n, op, scope = self.n, self.op, self.scope_code
        adds = np.flatnonzero((op == "+") & (np.diff(self.pred_ptr) == 2))
        first_edge = self.pred_edge[self.pred_ptr[adds]]
        a, b = self.src[first_edge], self.src[first_edge + 1]
        linked = (op[a] == "+") & (scope[a] == scope[adds]) & (self.out_degree[a] == 1) & (a != b)
        zero = ~linked & self.is_const[b] & (self.trace.data[b] == 0.0)
        prev = np.full(n, -1, dtype=np.int64)
        prev[adds[linked]] = a[linked]
        following = np.full(n, -1, dtype=np.int64)
        following[a[linked]] = adds[linked]
        in_chain = np.zeros(n, dtype=bool)
        in_chain[adds[linked]] = True
        in_chain[a[linked]] = True
        in_chain[adds[zero]] = True
        # pointer doubling: every member jumps to the end of its chain in log2(length) rounds
        final = np.where(following >= 0, following, np.arange(n))
        while True:
            nxt = final[final]
            if np.array_equal(nxt, final):
                break
            final = nxt
        chain_of = np.where(in_chain, final, -1)
        # the leading 0 of Python's sum() belongs to its chain too
        chain_of[b[zero]] = chain_of[adds[zero]]
        return chain_of

    def _unit_depths(self, unit):
        """Depth of each unit inside its scope: 0 when fed only from outside the scope.

        Relaxes all edges at once until nothing changes; scopes are shallow (a handful of
        rounds), so this beats a Python walk over every node.
        """
        src_unit, dst_unit = unit[self.src], unit[self.dst]
        inside = (
            (self.scope_code[self.src] == self.scope_code[self.dst])
            & ~self.is_const[self.src]
            & (src_unit != dst_unit)
        )
        src_unit, dst_unit = src_unit[inside], dst_unit[inside]
        depth = np.zeros(self.n, dtype=np.int32)
        while True:
            candidate = depth.copy()
            np.maximum.at(candidate, dst_unit, depth[src_unit] + 1)
            if np.array_equal(candidate, depth):
                return depth
            depth = candidate


def _number(x):
    return f"{x:g}"


index_of = per_trace(TraceIndex)
