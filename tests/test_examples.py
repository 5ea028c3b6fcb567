"""Every gallery example runs, in fast mode, and draws its figures.

Examples run in this process with ``SKAE_FAST_EXAMPLES=1`` (few epochs) and the
Agg backend; ``plt.show`` is replaced by a function that saves every open
figure to ``tmp_path``. Every example must run.
"""

import runpy
from pathlib import Path

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))


def test_gallery_has_the_examples():
    assert len(EXAMPLES) >= 11


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SKAE_FAST_EXAMPLES", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    saved = []

    def save_figures(*args, **kwargs):
        for number in plt.get_fignums():
            target = tmp_path / f"{path.stem}_{len(saved)}.png"
            plt.figure(number).savefig(target)
            saved.append(target)
        plt.close("all")

    monkeypatch.setattr(plt, "show", save_figures)
    try:
        runpy.run_path(str(path), run_name="__main__")
        save_figures()  # figures left open without a plt.show()
    finally:
        plt.close("all")
    assert saved, f"{path.name} drew no figure"
    assert all(p.stat().st_size > 1000 for p in saved)


@pytest.mark.cuda
def test_gpu_example_runs_on_the_gpu(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SKAE_FAST_EXAMPLES", "1")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: plt.close("all"))
    runpy.run_path(str(ROOT / "examples" / "plot_gpu.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "training on: cuda" in out
    assert "parameters are on: cuda:0" in out
    assert "device='auto' chose: cuda:0" in out
