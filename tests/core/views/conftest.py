"""What the tests of core/views share: five names, as a list and as a data file."""
import pytest

DOCS = ("emma", "olga", "ivan", "bo", "noah")


@pytest.fixture(scope="session")
def docs():
    """Five names: olga, ivan and noah have one length (their views share shapes and layouts), bo is short.

    One list for the session: never change it (a Trainer copies what it is given).
    """
    return list(DOCS)


@pytest.fixture(scope="session")
def data_file(tmp_path_factory, docs):
    """The five names as a data file, one per line (read only: tests write elsewhere)."""
    path = tmp_path_factory.mktemp("view_data") / "names.txt"
    path.write_text("\n".join(docs) + "\n")
    return path
