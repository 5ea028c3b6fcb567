"""The command line, end to end: demo output and figures, detect results and errors."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import skae
from skae._cli import main


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
    expected |= {"anomaly_scores.png", "top_anomaly_features.png"}
    assert "IsolationForest" in text
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


def test_detect_mismatched_columns(tables, tmp_path, capsys):
    train, score = tables
    frame = pd.read_csv(score).drop(columns="b").rename(columns={"e": "z"})
    bad = tmp_path / "other.csv"
    frame.to_csv(bad, index=False)
    assert detect(train, bad, tmp_path / "out.csv") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "same feature columns" in err
    assert "missing from" in err and "'b', 'e'" in err and "not in" in err and "'z'" in err


def test_detect_empty_file_and_bad_options(tables, tmp_path, capsys):
    train, score = tables
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
    assert detect(train, score, tmp_path / "out.csv", "--sep", ";;") == 2
    assert "--sep must be one character" in capsys.readouterr().err


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


def test_detect_reorders_columns_and_respects_top(tables, tmp_path):
    train, score = tables
    shuffled = tmp_path / "shuffled.csv"
    pd.read_csv(score)[list("hgfedcba")].to_csv(shuffled, index=False)
    out = tmp_path / "out.csv"
    assert detect(train, shuffled, out, "--top", "1") == 0
    result = pd.read_csv(out)
    assert list(result.columns) == ["row", "score", "label", "error", "top_1"]
    assert set(result.nsmallest(3, "score")["row"]) == {5, 17, 33}


# -- real CSVs: identifiers, separators, headers, categories, missing cells ----------
@pytest.fixture
def quick(monkeypatch):
    """Fewer training steps for the default network where quality is not measured."""
    from skae import _anomaly_defaults

    monkeypatch.setattr(_anomaly_defaults, "TRAINING_STEPS", 30, raising=False)


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"skae {skae.__version__}"


def test_detect_header_less_file_is_a_clear_error(tables, tmp_path, capsys):
    train, score = tables
    headless = tmp_path / "headless.csv"
    pd.read_csv(train).to_csv(headless, index=False, header=False)
    assert detect(headless, score, tmp_path / "out.csv") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "looks like data, not a header" in err and "--no-header" in err


def test_detect_header_less_score_file_gets_a_hint(tables, tmp_path, capsys):
    train, score = tables
    frame = pd.read_csv(score).assign(kind="x")
    headless = tmp_path / "headless.csv"
    frame.to_csv(headless, index=False, header=False)
    assert detect(train, headless, tmp_path / "out.csv") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "lack a header line? then pass --no-header" in err


def test_detect_wrong_separator_is_a_clear_error(tables, tmp_path, capsys):
    train, score = tables
    semicolons = tmp_path / "semi.csv"
    pd.read_csv(train).to_csv(semicolons, index=False, sep=";")
    assert detect(semicolons, score, tmp_path / "out.csv", "--sep", ",") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "has a single column 'a;b;c;d;e;f;g;h' with separator ','" in err
    assert "pass --sep" in err
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5,6\n")
    assert detect(ragged, score, tmp_path / "out.csv") == 2
    err = capsys.readouterr().err
    assert "not a readable CSV with separator ','" in err and "(detected)" in err


def test_detect_sniffs_separator_and_reads_header_less_files(tables, tmp_path, quick):
    train, score = tables
    semi_train, semi_score = tmp_path / "train_semi.csv", tmp_path / "score_semi.csv"
    pd.read_csv(train).to_csv(semi_train, index=False, sep=";")
    pd.read_csv(score).to_csv(semi_score, index=False, sep=";")
    out = tmp_path / "out.csv"
    assert detect(semi_train, semi_score, out) == 0  # ';' detected
    assert len(pd.read_csv(out)) == 40
    tab_train, tab_score = tmp_path / "train.tsv", tmp_path / "score.tsv"
    pd.read_csv(train).to_csv(tab_train, index=False, sep="\t", header=False)
    pd.read_csv(score).to_csv(tab_score, index=False, sep="\t", header=False)
    assert detect(tab_train, tab_score, out, "--no-header", "--sep", "\t") == 0
    result = pd.read_csv(out)
    assert set(result["top_1"]) <= {f"x{i}" for i in range(8)}


def test_detect_carries_id_columns_and_excludes_columns(tables, tmp_path, capsys):
    train, score = tables
    frames = {}
    for name, path in (("train", train), ("score", score)):
        frame = pd.read_csv(path)
        rng = np.random.RandomState(len(frame))
        frame.insert(0, "order", [f"o{i}" for i in range(len(frame))])
        frame["shop"] = rng.choice([1, 2, 3], len(frame))  # repeated: not an id
        frame["noise"] = rng.randn(len(frame)) * 1000
        frames[name] = tmp_path / f"{name}_ids.csv"
        frame.to_csv(frames[name], index=False)
    out = tmp_path / "out.csv"
    code = detect(
        frames["train"],
        frames["score"],
        out,
        "--id-column",
        "order",
        "--id-column",
        "shop",
        "--exclude",
        "noise",
    )
    assert code == 0
    result = pd.read_csv(out)
    assert list(result.columns[:3]) == ["order", "shop", "row"]
    assert list(result["order"]) == [f"o{i}" for i in range(40)]
    # Neither the identifiers nor the excluded column are features.
    tops = set(result[["top_1", "top_2", "top_3"]].to_numpy().ravel())
    assert tops <= set("abcdefgh")
    assert set(result.nsmallest(3, "score")["row"]) == {5, 17, 33}
    assert "warning" not in capsys.readouterr().err
    assert detect(train, score, out, "--id-column", "nope") == 2
    assert "--id-column 'nope' is not a column" in capsys.readouterr().err


def test_detect_warns_about_identifier_columns_and_does_not_use_them(
    tables, tmp_path, capsys, quick
):
    """customer_id (distinct integers) and pandas' index column are not features."""
    train, score = tables
    paths = {}
    for name, path in (("train", train), ("score", score)):
        frame = pd.read_csv(path)
        ids = np.random.RandomState(len(frame)).permutation(10_000)[: len(frame)]
        frame.insert(0, "customer_id", 100_000 + ids)
        paths[name] = tmp_path / f"{name}_index.csv"
        frame.to_csv(paths[name])  # with pandas' index: 'Unnamed: 0'
    out = tmp_path / "out.csv"
    assert detect(paths["train"], paths["score"], out) == 0
    err = capsys.readouterr().err
    assert "column 'Unnamed: 0' looks like an identifier (pandas' unnamed index" in err
    assert "--keep 'Unnamed: 0'" in err  # quoted for the shell
    assert "column 'customer_id' looks like an identifier (integers, every value" in err
    assert "--keep customer_id" in err
    result = pd.read_csv(out)
    assert list(result.columns[:3]) == ["Unnamed: 0", "customer_id", "row"]
    assert not result["label"].eq("anomaly").all()
    tops = set(result[["top_1", "top_2", "top_3"]].to_numpy().ravel())
    assert tops <= set("abcdefgh")
    # --keep makes it a feature again (no warning for it).
    assert detect(paths["train"], paths["score"], out, "--keep", "customer_id") == 0
    err = capsys.readouterr().err
    assert "'customer_id' looks like" not in err and "'Unnamed: 0' looks like" in err


def test_detect_categorical_and_missing_cells(tables, tmp_path, capsys):
    """Categories, a single-valued column, missing cells, an all-missing column and an
    unseen category at scoring time: no error, and the unseen value is the cause."""
    train, score = tables
    paths = {}
    for name, path in (("train", train), ("score", score)):
        frame = pd.read_csv(path)
        n = len(frame)
        rng = np.random.RandomState(n)
        frame["sign"] = np.where(frame["a"] > frame["a"].median(), "high", "low")
        frame["country"] = "FR"
        frame["empty"] = np.nan
        holes = rng.rand(n, 8) < 0.05
        holes[[5, 17, 33]] = False
        frame[list("abcdefgh")] = frame[list("abcdefgh")].mask(holes)
        paths[name] = tmp_path / f"{name}_mixed.csv"
        frame.to_csv(paths[name], index=False)
    frame = pd.read_csv(paths["score"])
    frame.loc[[2, 9], "sign"] = "sideways"  # never seen at fit
    frame.to_csv(paths["score"], index=False)
    out = tmp_path / "out.csv"
    # The calibrated "auto" threshold flags about 1 % of clean rows; an unseen
    # category alone is unusual but not that extreme: flag 5 % here.
    assert detect(paths["train"], paths["score"], out, "--contamination", "0.05") == 0
    err = capsys.readouterr().err
    assert "column 'empty' has no values" in err
    result = pd.read_csv(out)
    assert np.isfinite(result["score"]).all() and np.isfinite(result["error"]).all()
    assert (result.loc[[2, 9], "top_1"] == "sign").all()
    assert (result.loc[[2, 9], "label"] == "anomaly").all()
    assert (result.loc[[5, 17, 33], "label"] == "anomaly").all()
    assert "empty" not in set(result[["top_1", "top_2", "top_3"]].to_numpy().ravel())


def test_detect_dates_as_text_and_bools_written_as_numbers(tables, tmp_path, capsys, quick):
    """A date column of a later period is not a feature (every row would be an
    unseen category); True/False at fit and 1/0 at scoring are one column."""
    train, score = tables
    paths = {}
    for name, path, month in (("train", train, 1), ("score", score, 3)):
        frame = pd.read_csv(path)
        n = len(frame)
        frame.insert(0, "date", [f"2024-{month:02d}-{i % 20 + 1:02d}" for i in range(n)])
        flag = frame["a"] > frame["a"].median()
        frame["flag"] = flag if name == "train" else flag.astype(int)
        paths[name] = tmp_path / f"{name}_dates.csv"
        frame.to_csv(paths[name], index=False)
    out = tmp_path / "out.csv"
    assert detect(paths["train"], paths["score"], out) == 0
    err = capsys.readouterr().err
    assert "column 'date' holds dates written as text (such as '2024-01-01')" in err
    result = pd.read_csv(out)
    assert result.columns[0] == "date"  # carried to the output
    assert result["label"].eq("anomaly").sum() <= 5  # 3 planted, not all 40
    # The same scores as with the flags written True/False.
    frame = pd.read_csv(paths["score"])
    frame["flag"] = frame["flag"].astype(bool)
    frame.to_csv(paths["score"], index=False)
    assert detect(paths["train"], paths["score"], tmp_path / "bools.csv") == 0
    np.testing.assert_allclose(
        pd.read_csv(tmp_path / "bools.csv")["score"], result["score"]
    )
