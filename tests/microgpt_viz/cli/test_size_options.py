"""The model-size options every model-building command takes: listed in --help, checked in one line,
and a bigger model's recorded step equal to the spec's plainly written step."""
import contextlib
import io
import json

import pytest

from core.engine.config import preset
from core.engine.reference import plain_copy, plain_step
from core.engine.train import Trainer
from microgpt_viz.cli.main import build_parser

SIZE_OPTIONS = ("--n-layer", "--n-embd", "--n-head", "--block-size")
NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn"]


@pytest.fixture
def nine_names(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\n".join(NAMES) + "\n")
    return path


@pytest.mark.parametrize("command", ["train", "record", "export", "check", "gradcheck", "diff", "gui"])
def test_every_model_building_command_lists_the_size_options(command):
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown), pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    for option in SIZE_OPTIONS:
        assert option in shown.getvalue(), (command, option)


@pytest.mark.parametrize("args, fragment", [
    (("--n-embd", "10", "--n-head", "4"), "n_embd (10) must be divisible by n_head (4)"),
    (("--n-layer", "0"), "argument --n-layer: must be > 0, got 0"),
    (("--n-head", "two"), "argument --n-head: expected a whole number, got 'two'"),
    (("--block-size", "-3"), "argument --block-size: must be > 0, got -3"),
])
def test_bad_sizes_are_one_line_errors(cli, nine_names, args, fragment):
    cli("record", "--data", nine_names, "--doc", "emma", *args).assert_one_line_error(fragment)


def test_sizes_do_not_apply_to_a_script(cli, scripts):
    cli("record", "--script", scripts.tuples, "--n-layer", "2").assert_one_line_error("--n-layer does not apply to --script")


def test_a_two_layer_wider_step_equals_the_plainly_written_step(cli, nine_names):
    result = cli("record", "--data", nine_names, "--preset", "latest", "--n-layer", "2", "--n-embd", "32",
                 "--n-head", "8", "--doc", "isabella", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["attention_layers"], summary["attention_heads"]) == (2, 8)

    trainer = Trainer(NAMES, preset("latest", n_layer=2, n_embd=32, n_head=8))
    reference = plain_copy(trainer.model)
    loss = plain_step(reference, trainer.config, trainer.tokenizer.encode("isabella"))
    assert summary["loss"] == loss.data  # bit for bit: the CLI's recorded step is the spec's step
    trace = trainer.record("isabella")
    assert trace.loss == loss.data
    for name in ("layer1.attn_wq", "layer0.mlp_fc2", "lm_head"):
        nodes = trace.param_nodes[name]
        assert len(nodes) > 0
        for i in nodes:
            attrs = trace.graph.nodes[i]
            assert trace.grad[i] == reference[name][attrs["row"]][attrs["col"]].grad, (name, attrs["row"], attrs["col"])
