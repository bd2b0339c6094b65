"""Documents and the character tokenizer, loaded exactly as microgpt loads them."""
import os
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[2] / "assets"
EMBEDDED_NAMES = ASSETS / "names.txt"


SHOWN_CHARACTERS = 40  # of a document quoted in a one-line message


def quoted(text, limit=SHOWN_CHARACTERS):
    """repr(text) for a one-line message, shortened when long: 'abcdefghij…' (10,000 characters)."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)".replace("'…", "…'", 1)


class DataError(ValueError):
    """A data file that cannot be used, with a one-line reason."""


def resolve_data_path(explicit=None, cwd=None):
    """--data wins, then input.txt in the working directory (as in microgpt), then the embedded names."""
    if explicit:
        return Path(explicit)
    local = Path(cwd or os.getcwd()) / "input.txt"
    if local.is_file():
        return local
    return EMBEDDED_NAMES


def load_docs(path):
    """Non-empty stripped lines of a UTF-8 text file, in file order."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if path.is_dir():
        raise DataError(f"data path is a directory, not a text file: {path}")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read data file {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"data file is not UTF-8 text: {path} (bad byte at offset {e.start})") from None
    if "\x00" in text:
        raise DataError(f"data file is binary, not text: {path}")
    docs = [line.strip() for line in text.strip().split("\n") if line.strip()]
    if not docs:
        raise DataError(f"data file has no non-blank lines: {path}")
    return docs


class Tokenizer:
    """One token per distinct character, sorted; BOS is the last id."""

    def __init__(self, docs):
        self.uchars = sorted(set("".join(docs)))
        self.bos = len(self.uchars)
        self.vocab_size = len(self.uchars) + 1
        self._ids = {ch: i for i, ch in enumerate(self.uchars)}

    def check(self, doc):
        """Raise DataError unless doc is a non-empty string of known characters."""
        if not doc:
            raise DataError("the document is empty; give at least one character")
        unknown = sorted(set(doc) - set(self._ids))
        if unknown:
            shown = "".join(unknown)
            raise DataError(f"{quoted(doc)} has characters outside the vocabulary: {quoted(shown)}")
        return doc

    def encode(self, doc):
        """[BOS] + character ids + [BOS]."""
        self.check(doc)
        return [self.bos] + [self._ids[ch] for ch in doc] + [self.bos]

    def label(self, token_id):
        return "BOS" if token_id == self.bos else self.uchars[token_id]
