import pytest

from core.engine.data import EMBEDDED_NAMES, DataError, Tokenizer, load_docs, resolve_data_path


def test_loads_like_microgpt(tmp_path):
    f = tmp_path / "d.txt"
    f.write_text("\n  anna \n\nbob\r\n   \ncy\n\n")
    assert load_docs(f) == ["anna", "bob", "cy"]


def _write(name, content):
    def make(folder):
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    return make


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda folder: folder / "missing.txt", "not found"),
        (lambda folder: folder, "directory"),
        (_write("empty.txt", ""), "no non-blank lines"),
        (_write("blank.txt", " \n\n \t\n"), "no non-blank lines"),
        (_write("latin1.txt", b"ren\xe9e\n"), "not UTF-8"),
        (_write("binary.bin", b"ab\x00cd"), "binary"),
    ],
)
def test_bad_files_give_one_line_reasons(tmp_path, make, message):
    with pytest.raises(DataError, match=message) as info:
        load_docs(make(tmp_path))
    assert "\n" not in str(info.value)


def test_resolution_order(tmp_path):
    assert resolve_data_path(None, cwd=tmp_path) == EMBEDDED_NAMES
    (tmp_path / "input.txt").write_text("zed\n")
    assert resolve_data_path(None, cwd=tmp_path) == tmp_path / "input.txt"
    assert str(resolve_data_path("other.txt", cwd=tmp_path)) == "other.txt"


def test_embedded_names_are_usable():
    docs = load_docs(EMBEDDED_NAMES)
    assert len(docs) > 4000 and len(set(docs)) == len(docs)
    tok = Tokenizer(docs)
    assert tok.vocab_size == 27 and tok.uchars[0] == "a"


def test_tokenizer():
    tok = Tokenizer(["emma", "bob"])
    assert tok.uchars == ["a", "b", "e", "m", "o"]
    ids = tok.encode("emma")
    assert ids[0] == ids[-1] == tok.bos == len(tok.uchars)
    assert [tok.label(i) for i in ids] == ["BOS", "e", "m", "m", "a", "BOS"]
    with pytest.raises(DataError, match="outside the vocabulary"):
        tok.encode("emmy")
    with pytest.raises(DataError, match="empty"):
        tok.encode("")
