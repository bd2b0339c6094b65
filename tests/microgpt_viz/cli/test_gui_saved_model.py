"""`microgpt-viz gui` opens on the model last chosen in the app only when the command line chooses none."""
import pytest

pytest.importorskip("PyQt6")

from microgpt_viz.app import launch  # noqa: E402


@pytest.fixture
def opened(monkeypatch):
    """What `gui` hands the app, recorded instead of opening a window."""
    calls = []

    def run_app(trainer, **kwargs):
        calls.append((trainer, kwargs))
        return 0

    monkeypatch.setattr(launch, "run_app", run_app)
    return calls


@pytest.mark.parametrize("args, saved", [
    ((), True),
    (("--steps", "20"), True),
    (("--preset", "original"), False),  # typed, even though it is the default
    (("--preset", "latest"), False),
    (("--n-layer", "2"), False),
    (("--block-size", "4"), False),
])
def test_the_saved_model_is_used_only_when_none_is_chosen(cli, four_names, opened, args, saved):
    done = cli("gui", "--data", four_names, *args)
    assert done.returncode == 0, done.stderr
    (trainer, kwargs), = opened
    assert kwargs["saved_model"] is saved
    assert kwargs["preset_name"] == (args[1] if args[:1] == ("--preset",) else "original")
    assert type(kwargs["preset_name"]) is str


def test_no_command_is_the_gui_and_takes_the_saved_model(cli, four_names, opened):
    assert cli("--data", four_names).returncode == 0
    assert opened[0][1]["saved_model"] is True
