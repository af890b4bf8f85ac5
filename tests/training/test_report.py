"""Tables and figures are written whole or not at all, into folders made on the way."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from training.report import save_figure, write_text  # noqa: E402


def _figure():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    return fig


def test_save_figure_makes_the_folder_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "new" / "deeper" / "plot.png"
    save_figure(_figure(), path)
    # a PNG despite the .tmp name written first
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(path.parent.iterdir()) == [path]
    assert not plt.get_fignums()  # closed


def test_a_failed_save_keeps_the_old_figure(tmp_path):
    path = tmp_path / "plot.xyz"  # a format matplotlib cannot write
    path.write_bytes(b"old figure")
    with pytest.raises(ValueError, match="xyz"):
        save_figure(_figure(), path)
    assert path.read_bytes() == b"old figure"
    assert list(tmp_path.iterdir()) == [path]
    plt.close("all")


def test_write_text_replaces_whole(tmp_path):
    path = tmp_path / "a" / "table.md"
    write_text(path, "one\n")
    write_text(path, "two\n")
    assert path.read_text() == "two\n" and list(path.parent.iterdir()) == [path]


def test_command_as_a_user_types_it(monkeypatch):
    """The installed `cnnas` reads `cnnas …`, a script `python path …`."""
    import sys

    from training.report import command

    main = sys.modules["__main__"]
    monkeypatch.setattr(main, "__spec__", None, raising=False)
    monkeypatch.setattr(sys, "argv", ["/venv/bin/cnnas", "experiment", "unseen", "--out", "a b"])
    assert command() == "cnnas experiment unseen --out 'a b'"
    monkeypatch.setattr(sys, "argv", ["benchmarks/performance.py", "--free"])
    assert command() == "python benchmarks/performance.py --free"
