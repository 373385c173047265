"""Bad input to the ``grammarbench`` command: one line, exit status 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GRAMMAR = str(REPO / "config" / "grammars" / "one-motif.yaml")
ARCHITECTURE = str(REPO / "config" / "architectures" / "conv10w-gmp-fc10.yaml")

SIMULATE = ["simulate", GRAMMAR, "--out", "{tmp}/out", "--n-train"]  # then the size and the rest
TRAIN_ON_NOT_A_SPLIT = ["train", ARCHITECTURE, "--train", "{tmp}/not-a-split", "--validation", "{tmp}/not-a-split",
                        "--out", "{tmp}/model"]

CASES = {
    # name: (arguments, with {tmp} for the test's folder; the message fragment)
    "negative seed": ([*SIMULATE, "10", "--seed", "-1"],
                      "argument --seed: must be >= 0, got -1"),
    "seed too large": ([*SIMULATE, "10", "--seed", "99999999999"],
                       "argument --seed: must be at most 4294967295"),
    "size in float notation": ([*SIMULATE, "1e11"],
                               "argument --n-train: must be a whole number, got '1e11'"),
    "size too large for memory": ([*SIMULATE, "100000000000"],
                                  "command line: --n-train: 100000000000 examples of 200 letters need"),
    "zero threads": ([*SIMULATE, "10", "--threads", "0"],
                     "argument --threads: must be a positive number, got 0"),
    "negative threads": ([*SIMULATE, "10", "--threads", "-3"],
                         "argument --threads: must be a positive number, got -3"),
    "--out is a file": (["simulate", GRAMMAR, "--n-train", "10", "--out", "{tmp}/a-file"],
                        "a-file: --out: is an existing file; name a folder to write"),
    "--train is not a split": (TRAIN_ON_NOT_A_SPLIT,
                               "not-a-split: --train: not a simulated split (no manifest.json)"),
    "--train does not exist": (["train", ARCHITECTURE, "--train", "{tmp}/nowhere", "--validation",
                                "{tmp}/nowhere", "--out", "{tmp}/model"], "nowhere: --train: not found"),
    "train with zero threads": ([*TRAIN_ON_NOT_A_SPLIT, "--threads", "0"],
                                "argument --threads: must be a positive number, got 0"),
    "more examples to explain than the split": (
        ["attribute", "{tmp}/model", "--test", "{tmp}/split", "--train", "{tmp}/split", "--method", "ism",
         "--n-examples", "51", "--out", "{tmp}/maps"], "split: --n-examples: 51 is more than this split's 50 examples"),
    "evaluate --out is a file": (["evaluate", "{tmp}/model", "--data", "{tmp}/not-a-split", "--out",
                                  "{tmp}/a-file"], "a-file: --out: is an existing file"),
}


def run_cli(argv, capsys) -> tuple[int, str]:
    from grammarbench.cli import main

    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", CASES)
def test_bad_cli_input_is_one_line_and_writes_nothing(tmp_path, capsys, case):
    arguments, fragment = CASES[case]
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "not-a-split").mkdir()
    (tmp_path / "split").mkdir()
    (tmp_path / "split" / "manifest.json").write_text('{"split": "test", "n": 50}')
    before = sorted(tmp_path.rglob("*"))
    code, err = run_cli([a.replace("{tmp}", str(tmp_path)) for a in arguments], capsys)
    assert code == 2
    assert fragment in err, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error" in line or "bad input" in line]
    assert len(errors) == 1, err
    assert sorted(tmp_path.rglob("*")) == before
