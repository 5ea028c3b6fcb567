"""The command line, end to end: demo output and figures, detect results and errors."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import skae
from skae._cli import main

needs_detector = pytest.mark.skipif(
    not hasattr(skae, "AnomalyDetector"), reason="needs skae.AnomalyDetector"
)


@pytest.fixture
def tables(tmp_path):
    """A training CSV of normal rows and a CSV to score with three planted anomalies.

    Eight columns driven by two latent factors: with so few columns per factor
    (five, say) a spike in one column can leave as large a residual in a
    correlated column, even for the ideal linear projection (PCA), and the
    "which column" question has no clear answer.
    """
    rng = np.random.RandomState(0)
    latent = rng.randn(300, 2)
    mixing = rng.randn(2, 8)
    columns = list("abcdefgh")
    train = pd.DataFrame(latent @ mixing + 0.05 * rng.randn(300, 8), columns=columns)
    score = pd.DataFrame(
        rng.randn(40, 2) @ mixing + 0.05 * rng.randn(40, 8), columns=columns
    )
    score.loc[[5, 17, 33], "c"] += 8.0  # column c breaks the pattern in three rows
    train_path, score_path = tmp_path / "train.csv", tmp_path / "score.csv"
    train.to_csv(train_path, index=False)
    score.to_csv(score_path, index=False)
    return train_path, score_path


def detect(train, score, output, *extra):
    paths = ["--train", str(train), "--score", str(score), "--output", str(output)]
    return main(["detect", *paths, *extra])


def test_demo_prints_table_and_writes_figures(tmp_path, capsys):
    out = tmp_path / "figs"
    code = main(
        ["demo", "--output-dir", str(out), "--n-components", "2", "4", "--epochs", "2"]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "[digits 1/2] PCA and autoencoder with n_components=2" in text
    lines = text.splitlines()
    header = lines.index(
        next(line for line in lines if line.split()[:2] == ["n_components", "PCA"])
    )
    rows = [line.split() for line in lines[header + 1 : header + 3]]
    assert [int(r[0]) for r in rows] == [2, 4]
    for _, pca_error, ae_error, ratio, _ in rows:
        assert float(pca_error) > 0 and float(ae_error) > 0
        assert float(ratio) == pytest.approx(float(ae_error) / float(pca_error), abs=0.01)
    expected = {"reconstruction_error.png", "loss_curve.png", "reconstructions.png"}
    expected.add("latent_space.png")  # n_components=2 was among the sizes
    if hasattr(skae, "AnomalyDetector"):
        expected |= {"anomaly_scores.png", "top_anomaly_features.png"}
        assert "IsolationForest" in text
    else:
        assert "skipped: this version of skae has no AnomalyDetector" in text
    assert {p.name for p in out.iterdir()} == expected
    assert all(p.stat().st_size > 1000 for p in out.iterdir())


def test_demo_rejects_bad_options(tmp_path, capsys):
    assert main(["demo", "--output-dir", str(tmp_path), "--epochs", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "skae demo: error: --epochs must be a positive integer"
    )


def test_detect_missing_file(tables, tmp_path, capsys):
    train, _ = tables
    assert detect(train, tmp_path / "nope.csv", tmp_path / "out.csv") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--score file" in err and "nope.csv" in err and "does not exist" in err


def test_detect_non_numeric_columns(tables, tmp_path, capsys):
    _, score = tables
    frame = pd.read_csv(tables[0])
    frame["city"] = "Paris"
    frame["kind"] = "x"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    assert detect(bad, score, tmp_path / "out.csv") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "non-numeric columns: 'city', 'kind'" in err


def test_detect_mismatched_columns(tables, tmp_path, capsys):
    train, score = tables
    frame = pd.read_csv(score).drop(columns="b").rename(columns={"e": "z"})
    bad = tmp_path / "other.csv"
    frame.to_csv(bad, index=False)
    assert detect(train, bad, tmp_path / "out.csv") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "same columns" in err
    assert "missing from" in err and "'b', 'e'" in err and "not in" in err and "'z'" in err


def test_detect_missing_values_empty_file_and_bad_contamination(tables, tmp_path, capsys):
    train, score = tables
    frame = pd.read_csv(score)
    frame.loc[3, "d"] = np.nan
    holes = tmp_path / "holes.csv"
    frame.to_csv(holes, index=False)
    assert detect(train, holes, tmp_path / "out.csv") == 2
    assert "missing values in columns: 'd'" in capsys.readouterr().err
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert detect(empty, score, tmp_path / "out.csv") == 2
    assert "is empty" in capsys.readouterr().err
    assert detect(train, score, tmp_path / "out.csv", "--contamination", "0.9") == 2
    assert (
        "--contamination must be 'auto' or a number in (0, 0.5]" in capsys.readouterr().err
    )
    assert detect(train, score, tmp_path / "no" / "dir" / "out.csv") == 2
    assert "--output directory" in capsys.readouterr().err


def test_detect_error_is_one_line_without_traceback(tmp_path):
    """The real process: exit status 2 and a single line on stderr."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "skae",
            "detect",
            "--train",
            str(tmp_path / "a.csv"),
            "--score",
            str(tmp_path / "b.csv"),
            "--output",
            str(tmp_path / "o.csv"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"skae detect: error: --train file {str(tmp_path / 'a.csv')!r} does not exist"
    ]


@needs_detector
def test_detect_writes_scores_labels_and_top_columns(tables, tmp_path, capsys):
    train, score = tables
    out = tmp_path / "out.csv"
    assert detect(train, score, out, "--contamination", "0.1") == 0
    result = pd.read_csv(out)
    assert list(result.columns) == [
        "row",
        "score",
        "label",
        "error",
        "top_1",
        "top_2",
        "top_3",
    ]
    assert len(result) == 40 and list(result["row"]) == list(range(40))
    assert set(result["label"]) <= {"anomaly", "normal"}
    assert ((result["score"] < 0) == (result["label"] == "anomaly")).all()
    # The planted anomalies score lowest and are explained by column c.
    assert set(result.nsmallest(3, "score")["row"]) == {5, 17, 33}
    assert (result.loc[[5, 17, 33], "top_1"] == "c").all()
    assert (result.loc[[5, 17, 33], "label"] == "anomaly").all()
    assert "rows flagged as anomalies" in capsys.readouterr().out


@needs_detector
def test_detect_reorders_columns_and_respects_top(tables, tmp_path):
    train, score = tables
    shuffled = tmp_path / "shuffled.csv"
    pd.read_csv(score)[list("hgfedcba")].to_csv(shuffled, index=False)
    out = tmp_path / "out.csv"
    assert detect(train, shuffled, out, "--top", "1") == 0
    result = pd.read_csv(out)
    assert list(result.columns) == ["row", "score", "label", "error", "top_1"]
    assert set(result.nsmallest(3, "score")["row"]) == {5, 17, 33}
