"""--select held against a recorded step (no Qt): every name and number in it must exist there."""
import pytest

from core.engine.config import preset
from core.engine.train import Trainer
from microgpt_viz.session.select_script import KEYS, SelectError, check_against, help_text, parse

DOCS = ["emma", "olivia", "ava", "isabella", "sophia", "mia"]


@pytest.fixture(scope="module")
def trace():
    return Trainer(DOCS, preset("original")).record()


def test_every_key_is_explained_in_the_help():
    lines = help_text().splitlines()
    for key in KEYS:
        matching = [line for line in lines if line.strip().startswith(f"{key}=")]
        assert len(matching) == 1, key
        example, _, what = matching[0].strip().partition("  ")
        parse(example)  # every example is itself a valid --select
        assert what.strip(), key


def test_names_and_numbers_that_exist_pass(trace):
    check_against(parse(
        f"token=3,expand=pos3/layer0/attn,focus=pos3/layer0/attn/head2,node={trace.num_nodes - 1},cell=0:2:3:1,token=all"
    ), trace)


@pytest.mark.parametrize("text, fragment", [
    ("expand=pos3/layer0/atn", "did you mean pos3/layer0/attn"),
    ("toggle=pos99", "no group 'pos99'"),
    ("focus=params/wtee", "no scope 'params/wtee'"),
    ("node=99999999", "no such node"),
    ("token=40", "no such position"),
    ("cell=0:9:3:1", "no head 9"),
    ("cell=0:2:1:3", "masked"),
    ("token=1,node=99999999", "--select node=99999999"),  # the offending part is named
])
def test_mistakes_are_named_in_one_line(trace, text, fragment):
    with pytest.raises(SelectError) as error:
        check_against(parse(text), trace)
    message = str(error.value)
    assert fragment in message and "\n" not in message


def test_actions_after_a_step_change_are_left_for_the_step_they_apply_to(trace):
    # after steps=2 another doc may be on screen, with other node ids: not judged by this step
    check_against(parse("steps=2,node=99999999"), trace)
    with pytest.raises(SelectError):
        check_against(parse("node=99999999,steps=2"), trace)
