"""`microgpt-viz bench`: measure the performance figures on this machine and print them.

The Qt-free figures come from core/bench.py, the view figures from core/views/layout.py and the
GUI figures from microgpt_viz/app/perf.py. A figure whose code is missing or fails is reported
as not available (null in --json), never guessed.
"""
import argparse
import json
import sys
import time

from core import bench
from core.engine.data import load_docs, resolve_data_path
from microgpt_viz.cli.args import UnchosenPreset, add_common, make_trainer, positive_int

NAME = "bench"

# The JSON keys, in order, with the bound issue 6 sets: (kind, limit), kind "max" or "min".
FIGURES = {
    "plain_step_s": None,
    "record_step_s": None,
    "record_over_plain_step": ("max", 2.0),  # issue 13: a recorded step at most twice a plain one
    "fast_forward_speedup": ("min", 50.0),
    "fast_forward_max_abs_loss_diff": ("max", 1e-6),
    "view_expand_layout_s": ("max", 0.3),
    "overview_first_paint_s": ("max", 1.5),
    "overview_repaint_s": ("max", 0.1),
    "app_start_to_first_paint_s": ("max", 5.0),
    "record_peak_rss_mb": ("max", 600.0),
    "gui_max_stall_ms": ("max", 100.0),
}

# Added with --soak N (issue 14): a long session of Steps with a user's interactions in the real window.
SOAK_FIGURES = {
    "soak_steps": None,
    "soak_rss_after_50_mb": None,
    "soak_rss_end_mb": None,  # bound: within SOAK_RSS_GROWTH_MB of soak_rss_after_50_mb
    "app_step_median_s": ("max", 0.5),
    "soak_max_stall_ms": ("max", 100.0),
    "soak_errors": ("max", 0),
}
SOAK_RSS_GROWTH_MB = 200.0

LABELS = {
    "plain_step_s": "plain step (Trainer.step)",
    "record_step_s": "recorded step (Trace + networkx graph)",
    "record_over_plain_step": "recorded / plain step",
    "fast_forward_speedup": "fast-forward speed-up per step",
    "fast_forward_max_abs_loss_diff": "fast vs scalar |loss diff| (max)",
    "view_expand_layout_s": "expand a group + lay out the view",
    "overview_first_paint_s": "overview first paint (16-pos latest)",
    "overview_repaint_s": "overview repaint after a pan",
    "app_start_to_first_paint_s": "app start -> first paint",
    "record_peak_rss_mb": "peak memory of recording (16-pos latest)",
    "gui_max_stall_ms": "longest GUI stall during Run N",
    "soak_steps": "soak: Steps taken",
    "soak_rss_after_50_mb": "soak: memory after Step 50",
    "soak_rss_end_mb": "soak: memory after the last Step",
    "app_step_median_s": "soak: Step (update, record, redraw), median",
    "soak_max_stall_ms": "soak: longest GUI stall",
    "soak_errors": "soak: message boxes and exceptions",
}


# `bench --size`: how cost grows with the model (issue 13), on the --n-layer x --n-embd model
# (default 4 x 32) of --preset (default here: latest, the issue's reference), and a table of
# 1 to --n-layer layers at that width.
SIZE_FIGURES = ("bytes_per_value_recorded", "big_record_s", "big_record_peak_mb", "big_app_first_paint_s", "big_app_peak_mb")
SIZE_LABELS = {
    "bytes_per_value_recorded": "memory per recorded Value (bytes)",
    "big_record_s": "record one step",
    "big_record_peak_mb": "peak memory of recording (MB)",
    "big_app_first_paint_s": "app start -> first paint, token=all",
    "big_app_peak_mb": "peak memory of the app (MB)",
}


def add_parser(subparsers):
    parser = subparsers.add_parser(
        NAME,
        help="measure the performance figures on this machine",
        description="Measure step, recording, fast-forward, layout, paint, start-up, memory and GUI figures (a minute or two).",
    )
    add_common(parser)
    parser.set_defaults(preset=UnchosenPreset("original"))  # --size takes latest unless --preset says otherwise
    parser.add_argument("--json", action="store_true", help="print one JSON object with the figures (null: not available)")
    parser.add_argument(
        "--soak", type=positive_int, default=None, metavar="N",
        help="also drive the window offscreen through N Steps with a user's clicks (every 10th Step: a token, "
             "two groups, a colour, a search) and report memory, Step time, stalls and errors (300: ~10 minutes)",
    )
    parser.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)  # fewer repeats, for tests
    parser.add_argument(
        "--size", action="store_true",
        help=f"instead: how cost grows with the model: record and app figures of the --n-layer x --n-embd model "
             f"(default {bench.BIG_LAYERS} x {bench.BIG_WIDTH}, --preset latest unless given) and of 1 to --n-layer layers, "
             "each in a fresh process (minutes)")
    return parser


class _Figures:
    """Collects figures; a figure that cannot be measured becomes None with a note saying why."""

    def __init__(self, verbose):
        self.values = dict.fromkeys(FIGURES)
        self.extra = {}
        self.notes = []
        self.verbose = verbose

    def measure(self, what, keys, work):
        if self.verbose:
            print(f"measuring {what} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            result = work()
        except (ImportError, AttributeError) as e:
            self.notes.append(f"{what}: not available yet ({e})")
            return None
        except Exception as e:  # a figure that fails must not sink the others
            self.notes.append(f"{what}: failed ({type(e).__name__}: {e})")
            return None
        if self.verbose:
            print(f"  ({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
        if keys:
            values = result if isinstance(result, tuple) else (result,)
            for key, value in zip(keys, values):
                self.values[key] = float(value)
        return result


def run(args):
    if args.size:
        return run_size(args)
    settings = bench.QUICK if args.quick else bench.BenchSettings()
    data_path = resolve_data_path(args.data).resolve()  # children run elsewhere: an absolute path
    trainer = make_trainer(args)
    figures = _Figures(verbose=True)
    _step_figures(figures, trainer, settings)
    _view_figures(figures, trainer, load_docs(data_path))
    _process_figures(figures, str(data_path), args.preset, settings)
    if args.soak:
        figures.values.update(dict.fromkeys(SOAK_FIGURES))
        figures.measure(f"a soak of {args.soak} Steps in the window", None, lambda: figures.values.update(soak_figures(args)))
    for note in figures.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(figures.values))
    else:
        _print_table(figures, args.preset, settings)
    return 0


def run_size(args):
    data_path = resolve_data_path(args.data).resolve()
    make_trainer(args)  # checks the data and the size options the way every command does
    preset_name = "latest" if isinstance(args.preset, UnchosenPreset) else str(args.preset)
    layers, width = args.n_layer or bench.BIG_LAYERS, args.n_embd or bench.BIG_WIDTH
    rows = []
    for n_layer in range(1, layers + 1):
        print(f"measuring {n_layer} layer(s) x {width} wide ...", file=sys.stderr, flush=True)
        row = {"n_layer": n_layer, "n_embd": width}
        try:
            recorded = bench.record_size_figures(data_path, preset_name, n_layer, width)
            row.update(values=recorded["nodes"], doc=recorded["doc"], record_s=recorded["record_s"],
                       record_peak_mb=recorded["peak_mb"], bytes_per_value=recorded["bytes_per_value"])
            app = _perf().app_size_figures(data_path, preset_name, n_layer, width)
            row.update(app_values=app["nodes"], app_first_paint_s=app["first_paint_s"], app_peak_mb=app["peak_mb"])
        except (RuntimeError, OSError, ValueError) as e:
            print(f"note: {n_layer} layer(s): {e}", file=sys.stderr)
        rows.append(row)
    big = rows[-1]
    figures = dict(zip(SIZE_FIGURES, (big.get(k) for k in ("bytes_per_value", "record_s", "record_peak_mb", "app_first_paint_s", "app_peak_mb"))))
    if args.json:
        print(json.dumps({**figures, "preset": preset_name, "by_layers": rows}))
        return 0
    print(f"microgpt-viz bench --size, preset {preset_name}, {layers} layers x {width} wide")
    for key, value in figures.items():
        print(f"  {SIZE_LABELS[key]:<42} {key:<28} {'n/a' if value is None else f'{value:.4g}':>10}")
    print()
    print(f"  {'layers':>6} {'wide':>5} {'Values':>10} {'record s':>9} {'record MB':>10} {'app Values':>11} {'app paint s':>12} {'app MB':>8}")
    for row in rows:
        def cell(key, fmt, width):
            return f"{row[key]:{width}{fmt}}" if key in row else f"{'n/a':>{width}}"
        print(f"  {row['n_layer']:>6} {row['n_embd']:>5} {cell('values', ',', 10)} {cell('record_s', '.1f', 9)} {cell('record_peak_mb', ',.0f', 10)}"
              f" {cell('app_values', ',', 11)} {cell('app_first_paint_s', '.1f', 12)} {cell('app_peak_mb', ',.0f', 8)}")
    docs = sorted({row["doc"] for row in rows if "doc" in row})
    print(f"  record: doc {', '.join(map(repr, docs))}; app: the doc of step 0, the whole step (token=all)")
    return 0


def _step_figures(figures, trainer, settings):
    costs = figures.measure("plain and recorded steps", None, lambda: bench.step_costs(trainer, settings.repeats))
    if costs:
        for key in ("plain_step_s", "record_step_s", "record_over_plain_step"):
            figures.values[key] = costs[key]
        figures.extra["release_trace_s"] = costs["release_trace_s"]
    ratio = figures.measure("plain step vs core/engine/reference.py", None, lambda: bench.plain_over_reference(trainer, settings.repeats))
    if ratio is not None:
        figures.extra["plain_over_reference_step"] = ratio
    fast = figures.measure(
        f"fast-forward vs scalar over {settings.compare_steps} steps",
        ("fast_forward_speedup", "fast_forward_max_abs_loss_diff"),
        lambda: bench.fast_forward_figures(trainer, settings.compare_steps),
    )
    if fast:
        figures.extra["scalar_step_s"], figures.extra["fast_step_s"] = fast[2], fast[3]


def _view_figures(figures, trainer, docs):
    step_trace = figures.measure("the trace of step 0", None, trainer.record)
    if step_trace is not None:
        figures.measure("view expand + layout", ("view_expand_layout_s",), lambda: _layout().bench_expand_layout(step_trace))
    big_trace = figures.measure("the 16-position latest trace", None, lambda: bench.full_context_trace(docs))
    if big_trace is not None:
        figures.extra["overview_nodes"] = big_trace.num_nodes
        layout_s = figures.measure("overview layout", None, lambda: _layout().bench_overview_layout(big_trace))
        if layout_s is not None:
            figures.extra["overview_layout_s"] = layout_s
        paint = ("overview_first_paint_s", "overview_repaint_s")
        figures.measure("overview paint", paint, lambda: _perf().overview_paint_s(big_trace))


def _process_figures(figures, data, preset_name, settings):
    """The figures taken in a child process or in a real window."""
    figures.measure("peak memory of recording (child process)", ("record_peak_rss_mb",), lambda: bench.record_peak_rss_mb(data))
    figures.measure(
        "app start to first paint (child process)", ("app_start_to_first_paint_s",),
        lambda: _perf().app_start_to_first_paint_s(data, preset_name),
    )
    figures.measure(
        f"GUI stalls during Run {settings.gui_steps}", ("gui_max_stall_ms",),
        lambda: _perf().gui_max_stall_ms(settings.gui_steps, data, preset_name),
    )


def soak_figures(args):
    """The SOAK_FIGURES of `--soak N`, on a fresh trainer made from the command's options."""
    result = _perf().soak(args.soak, trainer=make_trainer(args), preset_name=args.preset)
    for text in result["error_texts"]:
        print(f"note: soak error: {text}", file=sys.stderr)
    if result["longest_stall_during"]:
        print(f"note: soak: the longest stall came during the {result['longest_stall_during']}", file=sys.stderr)
    return {key: None if result[key] is None else float(result[key]) for key in SOAK_FIGURES}


def _layout():
    from core.views import layout

    return layout


def _perf():
    from microgpt_viz.app import perf

    return perf


def _verdict(key, value):
    bound = FIGURES.get(key, SOAK_FIGURES.get(key))
    if value is None:
        return "not available"
    if bound is None:
        return ""
    kind, limit = bound
    ok = value <= limit if kind == "max" else value >= limit
    return f"{'ok' if ok else 'OVER'} ({'<=' if kind == 'max' else '>='} {limit:g})"


def _print_table(figures, preset_name, settings):
    v, x = figures.values, figures.extra
    print(f"microgpt-viz bench, preset {preset_name}, medians of {settings.repeats} steps")
    for key in v:
        value = v[key]
        shown = "n/a" if value is None else f"{value:.4g}"
        print(f"  {LABELS[key]:<42} {key:<32} {shown:>10}  {_verdict(key, value)}")
    if "plain_over_reference_step" in x:
        ratio = x["plain_over_reference_step"]
        print(f"  {'plain step / core/engine/reference.py plain_step':<42} {'(not a JSON key)':<32} {ratio:>10.4g}  {'ok' if ratio <= 1.05 else 'OVER'} (<= 1.05)")
    if "release_trace_s" in x:
        print(f"  releasing the replaced trace took {x['release_trace_s']:.3f} s (not in record_step_s)")
    if "scalar_step_s" in x:
        print(f"  scalar step {x['scalar_step_s'] * 1000:.1f} ms, fast step {x['fast_step_s'] * 1000:.3f} ms over {settings.compare_steps} steps")
    if "overview_nodes" in x:
        layout = f", layout {x['overview_layout_s']:.2f} s" if "overview_layout_s" in x else ""
        print(f"  overview graph: {x['overview_nodes']} nodes{layout}")
    if v.get("soak_rss_end_mb") is not None and v.get("soak_rss_after_50_mb") is not None:
        growth = v["soak_rss_end_mb"] - v["soak_rss_after_50_mb"]
        verdict = "ok" if growth <= SOAK_RSS_GROWTH_MB else "OVER"
        print(f"  soak: memory grew {growth:.0f} MB from Step 50 to the end  {verdict} (<= {SOAK_RSS_GROWTH_MB:g})")
