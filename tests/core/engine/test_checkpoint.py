import hashlib
import json
import math

import pytest

from core.engine import checkpoint
from core.engine.checkpoint import CheckpointError
from core.engine.config import preset
from core.engine.train import Trainer


@pytest.fixture
def trained(small_docs):
    """trained(preset name, steps) -> a Trainer on the nine names, planned for 30 steps, after `steps` of them."""

    def train(name, steps, planned=30):
        trainer = Trainer(small_docs, preset(name, num_steps=planned))
        for _ in range(steps):
            trainer.step()
        return trainer

    return train


def state_of(trainer):
    return (
        [p.data for p in trainer.params], list(trainer.adam_m), list(trainer.adam_v),
        trainer.step_index, list(trainer.losses), trainer.rng.getstate(), list(trainer.docs),
    )


@pytest.mark.parametrize("name", ["original", "latest"])
def test_resuming_continues_bit_for_bit(tmp_path, trained, name):
    path = tmp_path / "state.json"
    checkpoint.save(trained(name, 5), path, "small")
    resumed = checkpoint.resume(path)
    straight = trained(name, 5)
    assert state_of(resumed) == state_of(straight)
    for _ in range(5):
        assert resumed.step().loss == straight.step().loss
    assert resumed.losses == straight.losses
    assert [p.data for p in resumed.params] == [p.data for p in straight.params]
    assert resumed.sample(3) == straight.sample(3)


def test_the_file_is_inspectable_json(tmp_path, trained, small_docs):
    path = tmp_path / "state.json"
    trainer = trained("latest", 3)
    checkpoint.save(trainer, path, "/data/names.txt")
    document = json.loads(path.read_text())
    body = document["body"]
    assert document["format"] == "microgpt-viz training state" and document["version"] == 1
    assert body["step"] == 3 and body["losses"] == trainer.losses
    assert body["config"]["activation"] == "relu" and body["config"]["num_steps"] == 30
    assert body["parameters"]["wte"][2][5] == trainer.model.state_dict["wte"][2][5].data
    assert list(body["parameters"]) == list(trainer.model.state_dict)
    assert body["docs"]["lines"] == small_docs and body["docs"]["source"] == "/data/names.txt"
    assert len(body["rng_state"]["words"]) == 625


def test_restoring_builds_a_new_trainer_and_keeps_sampling_settings_apart(tmp_path, trained):
    path = tmp_path / "state.json"
    original = trained("original", 4)
    checkpoint.save(original, path)
    state = checkpoint.load(path)
    restored = checkpoint.restore(state, state.config.with_changes(num_samples=2, temperature=0.9))
    assert restored is not original and restored.config.num_samples == 2
    with pytest.raises(CheckpointError, match="only the sampling settings"):
        checkpoint.restore(state, state.config.with_changes(learning_rate=0.5))


def rewrite(path, change):
    """Apply `change` to the body and re-seal it, as a careless hand edit with a fixed checksum would."""
    document = json.loads(path.read_text())
    change(document["body"])
    canonical = json.dumps(document["body"], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    document["checksum"] = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    path.write_text(json.dumps(document))


@pytest.fixture
def saved(tmp_path, trained):
    path = tmp_path / "state.json"
    checkpoint.save(trained("original", 2), path)
    return path


def test_truncated_files_are_refused(saved):
    text = saved.read_bytes()
    for cut in (0, 1, 200, len(text) // 2, len(text) - 3):
        saved.write_bytes(text[:cut])
        with pytest.raises(CheckpointError, match="truncated or not JSON"):
            checkpoint.load(saved)


def test_corrupt_and_foreign_files_are_refused(saved, tmp_path):
    text = saved.read_text()
    index = text.index('"losses": [') + 20
    digit = text[index]
    assert digit.isdigit()
    saved.write_text(text[:index] + str((int(digit) + 1) % 10) + text[index + 1:])
    with pytest.raises(CheckpointError, match="corrupt: its checksum"):
        checkpoint.load(saved)
    other = tmp_path / "other.json"
    other.write_text('{"hello": "world"}')
    with pytest.raises(CheckpointError, match="not a microgpt-viz training state"):
        checkpoint.load(other)
    other.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(CheckpointError, match="not JSON"):
        checkpoint.load(other)
    other.write_text(text.replace('"version": 1', '"version": 2'))
    with pytest.raises(CheckpointError, match="version 2"):
        checkpoint.load(other)
    with pytest.raises(CheckpointError, match="not found"):
        checkpoint.load(tmp_path / "missing.json")
    with pytest.raises(CheckpointError, match="directory"):
        checkpoint.load(tmp_path)


@pytest.mark.parametrize("change, reason", [
    (lambda b: b["losses"].pop(), "1 losses recorded for 2 steps"),
    (lambda b: b["rng_state"]["words"].pop(), "RNG state"),
    (lambda b: b["config"].update(activation="gelu"), "activation"),
    (lambda b: b["config"].pop("seed"), "Config's fields"),
    (lambda b: b["parameters"]["wte"][0].__setitem__(0, "x"), "list of numbers"),
    (lambda b: b["adam_m"]["wte"].pop(), "differ in shape"),
    (lambda b: b["docs"]["lines"].append("zed"), "digest"),
    (lambda b: b.update(step=999), "step must be"),
    (lambda b: b.pop("adam_v"), "missing 'adam_v'"),
    (lambda b: b["adam_v"]["wte"][0].__setitem__(0, -1e-6), "adam_v[wte] row holds a number below 0"),
    (lambda b: b.update(padding="x" * 1000), "unknown 'padding'"),
    (lambda b: b["docs"].update(note="hi"), "docs: unknown 'note'"),
    (lambda b: b["rng_state"].update(extra=1), "rng_state: unknown 'extra'"),
])
def test_well_formed_but_unusable_states_are_refused(saved, change, reason):
    rewrite(saved, change)
    with pytest.raises(CheckpointError, match="unusable training state") as error:
        checkpoint.load(saved)
    assert reason in str(error.value)


def test_matrices_that_do_not_fit_the_model_are_refused_on_restore(saved):
    def drop_a_row(body):
        for part in ("parameters", "adam_m", "adam_v"):
            body[part]["wte"].pop()

    rewrite(saved, drop_a_row)
    state = checkpoint.load(saved)
    with pytest.raises(CheckpointError, match="wte does not fit"):
        checkpoint.restore(state)


def test_a_state_with_nan_is_not_saved(tmp_path, trained):
    trainer = trained("original", 1)
    trainer.adam_v[7] = math.nan
    path = tmp_path / "state.json"
    with pytest.raises(CheckpointError, match="NaN"):
        checkpoint.save(trainer, path)
    assert not path.exists() and not list(tmp_path.iterdir())


# --- train --until / --save / --resume ----------------------------------------------------------


def lines(result, prefix):
    return [l for l in result.stdout.splitlines() if l.startswith(prefix)]


def test_resumed_training_prints_what_an_uninterrupted_run_prints(cli, tmp_path, small_data):
    state = tmp_path / "run.json"
    first = cli("train", "--data", small_data, "--steps", "30", "--until", "10", "--save", state, "--samples", "4")
    assert first.returncode == 0, first.stderr
    assert [l[:16] for l in lines(first, "step")] == [f"step {s:4d} /   30" for s in range(1, 11)]
    resumed = cli("train", "--resume", state, "--until", "20", "--samples", "4")
    assert resumed.returncode == 0, resumed.stderr
    straight = cli("train", "--data", small_data, "--steps", "30", "--until", "20", "--samples", "4")
    assert lines(resumed, "step") == lines(straight, "step")[10:20]
    assert len(lines(resumed, "step")) == 10 and lines(resumed, "step")[0].startswith("step   11 /   30 | loss ")
    assert lines(resumed, "sample") == lines(straight, "sample") and len(lines(resumed, "sample")) == 4
    assert resumed.stdout.splitlines()[:3] == straight.stdout.splitlines()[:3]
    assert "resumed from" in resumed.stderr


def test_resume_on_names_txt(cli, tmp_path, names_path):
    state = tmp_path / "names.json"
    first = cli("train", "--data", names_path, "--until", "2", "--save", state, "--samples", "2")
    assert first.returncode == 0, first.stderr
    assert lines(first, "step")[0] == "step    1 /  500 | loss 3.3630"  # the reference figures
    resumed = cli("train", "--resume", state, "--until", "4", "--samples", "2")
    straight = cli("train", "--data", names_path, "--until", "4", "--samples", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert lines(resumed, "step") == lines(straight, "step")[2:4]
    assert lines(resumed, "sample") == lines(straight, "sample")
    assert resumed.stdout.splitlines()[0] == "num docs: 32033"


def test_a_truncated_checkpoint_is_refused_cleanly(cli, tmp_path, small_data):
    state = tmp_path / "run.json"
    assert cli("train", "--data", small_data, "--steps", "5", "--until", "2", "--save", state, "--samples", "0").returncode == 0
    truncated = tmp_path / "cut.json"
    truncated.write_bytes(state.read_bytes()[: state.stat().st_size // 3])
    before = truncated.read_bytes()
    result = cli("train", "--resume", truncated, "--save", truncated)
    result.assert_one_line_error("truncated or not JSON")
    assert result.stdout == ""
    assert truncated.read_bytes() == before  # nothing was changed, not even by --save


def test_train_option_errors(cli, tmp_path, small_data):
    state = tmp_path / "run.json"
    assert cli("train", "--data", small_data, "--steps", "6", "--until", "3", "--save", state, "--samples", "0").returncode == 0
    cli("train", "--data", small_data, "--steps", "6", "--until", "7").assert_one_line_error("beyond the plan of 6 steps")
    cli("train", "--data", small_data, "--until", "0").assert_one_line_error("must be > 0")
    cli("train", "--resume", state, "--until", "2").assert_one_line_error("before the checkpoint's step 3")
    cli("train", "--resume", state, "--steps", "9").assert_one_line_error("--steps 9 disagrees with the checkpoint")
    cli("train", "--resume", state, "--seed", "1").assert_one_line_error("--seed 1 disagrees")
    cli("train", "--resume", state, "--preset", "latest").assert_one_line_error("--preset latest disagrees")
    other = tmp_path / "other.txt"
    other.write_text("bob\nalice\n")
    cli("train", "--resume", state, "--data", other).assert_one_line_error("not the data the checkpoint was trained on")
    cli("train", "--resume", tmp_path / "nope.json").assert_one_line_error("checkpoint not found")
    result = cli("train", "--data", small_data, "--steps", "3", "--save", tmp_path / "no" / "dir" / "s.json")
    result.assert_one_line_error("does not exist")
    assert result.stdout == ""  # refused before any training


def test_resuming_with_matching_options_and_finishing_the_plan(cli, tmp_path, small_data):
    state = tmp_path / "run.json"
    assert cli("train", "--data", small_data, "--steps", "6", "--until", "3", "--save", state, "--samples", "0").returncode == 0
    result = cli("train", "--resume", state, "--data", small_data, "--steps", "6", "--save", state, "--samples", "0")
    assert result.returncode == 0, result.stderr
    assert [l[:16] for l in lines(result, "step")] == ["step    4 /    6", "step    5 /    6", "step    6 /    6"]
    assert checkpoint.load(state).step == 6


def test_a_deeply_nested_file_is_refused_before_parsing(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200000 + "]" * 200000)
    with pytest.raises(CheckpointError, match="nests 200000 levels deep"):
        checkpoint.load(deep)


def test_brackets_inside_strings_do_not_count_as_nesting(saved):
    rewrite(saved, lambda b: b["docs"].update(source="[[[[[[[[[[[[ {{{{{{{{"))
    assert checkpoint.load(saved).docs_source.startswith("[[[[")


def test_a_number_too_large_to_be_finite_is_refused(saved):
    rewrite(saved, lambda b: b["parameters"]["wte"][0].__setitem__(0, 12345.5))
    saved.write_text(saved.read_text().replace("12345.5", "1e999"))  # parses as infinity
    with pytest.raises(CheckpointError, match="corrupt"):
        checkpoint.load(saved)


def test_keys_outside_the_checksummed_body_are_refused(saved):
    document = json.loads(saved.read_text())
    document["padding"] = "x" * 10000
    saved.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="keys a training state does not have: unknown 'padding'"):
        checkpoint.load(saved)


def test_a_file_over_the_size_limit_is_refused_unread(saved, monkeypatch):
    monkeypatch.setattr(checkpoint, "MAX_BYTES", saved.stat().st_size - 1)
    with pytest.raises(CheckpointError, match="too big to be a training state"):
        checkpoint.load(saved)


def test_malformed_checkpoints_end_train_in_one_line(cli, tmp_path, saved):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200000 + "]" * 200000)
    cli("train", "--resume", deep).assert_one_line_error("nests 200000 levels deep")
    rewrite(saved, lambda b: b["adam_v"]["wte"][0].__setitem__(0, -0.5))
    cli("train", "--resume", saved, "--until", "3").assert_one_line_error("below 0")


def test_a_long_name_is_shortened_in_one_line_outputs(cli, tmp_path):
    data = tmp_path / "names.txt"
    data.write_text("emma\nolivia\nbob\n")
    long_name = "ab" * 5000
    result = cli("record", "--data", data, "--doc", long_name)
    assert result.returncode == 0, result.stderr
    assert f"'{'ab' * 20}…' (10,000 characters)" in result.stdout and len(result.stdout) < 300
    cli("record", "--data", data, "--doc", "z" * 5000).assert_one_line_error("(5,000 characters) has characters outside")


def test_a_state_saved_after_recorded_steps_resumes_as_a_plain_run(tmp_path, small_docs, trained):
    path = tmp_path / "state.json"
    shown = Trainer(small_docs, preset("latest", num_steps=30))
    for _ in range(5):  # the app's Steps: each recorded, then taken from the recording's numbers
        shown.record()
        shown.step()
    shown.record()
    checkpoint.save(shown, path, "small")
    resumed = checkpoint.resume(path)
    straight = trained("latest", 5)
    assert state_of(resumed) == state_of(straight) == state_of(shown)
    resumed.record()
    for trainer in (resumed, shown, straight):
        trainer.step()
    assert state_of(resumed) == state_of(straight) == state_of(shown)
