"""Every input mistake on the command line is one line on stderr and exit 2, never a traceback: bad option values,
folders where files are expected, unwritable outputs, unreachable databases and unusable model files."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.config import REPO_ROOT

DEMO = REPO_ROOT / "assets" / "demo"
MODEL = ["--weights", str(DEMO / "mb1-ssd-demo-fp16.pth"), "--labels", str(DEMO / "labels.txt")]
IMAGE = str(REPO_ROOT / "assets" / "samples" / "shapes-1.jpg")

# (arguments, words the one line must contain); {tmp} is a fresh folder holding the file `a_file` and folder `a_dir`
OPTION_VALUES = {
    "unknown command": (["nosuch"], "invalid choice: 'nosuch'"),
    "missing command": ([], "the following arguments are required: COMMAND"),
    "threshold text": (["detect", *MODEL, "--image", IMAGE, "--threshold", "abc"], "not a number: 'abc'"),
    "threshold above 1": (["detect", *MODEL, "--image", IMAGE, "--threshold", "5"], "between 0 and 1, not 5"),
    "threshold NaN": (["detect", *MODEL, "--image", IMAGE, "--threshold", "nan"], "a finite number, not 'nan'"),
    "evaluate threads 0": (["evaluate", *MODEL, "--data", "{tmp}", "--threads", "0"], "at least 1, not 0"),
    "evaluate threads -1": (["evaluate", *MODEL, "--data", "{tmp}", "--threads", "-1"], "at least 1, not -1"),
    "opset text": (["export-onnx", *MODEL, "--opset", "abc"], "not a whole number: 'abc'"),
    "batch sizes text": (["optimize", *MODEL, "--data", "{tmp}", "--batch-sizes", "a,b"], "not a whole number: 'a'"),
    "batch sizes empty": (["optimize", *MODEL, "--data", "{tmp}", "--batch-sizes", ","], "like 1,8,32"),
    "optimize output a file": (["optimize", *MODEL, "--data", "{tmp}", "--output", "{tmp}/a_file"],
                               "a_file is a file, not a folder"),
    "train lr negative": (["train", "--data", "{tmp}", "--lr", "-1"], "at least 0, not -1"),
    "train milestones text": (["train", "--data", "{tmp}", "--milestones", "a,b"], "not a whole number: 'a'"),
    "train workers -1": (["train", "--data", "{tmp}", "--workers", "-1"], "at least 0, not -1"),
    "train validation epochs 0": (["train", "--data", "{tmp}", "--validation-epochs", "0"], "at least 1, not 0"),
    "train t-max 0": (["train", "--data", "{tmp}", "--t-max", "0"], "at least 1, not 0"),
    "train output a file": (["train", "--data", "{tmp}", "--output", "{tmp}/a_file"], "is a file, not a folder"),
    "benchmark min-seconds NaN": (["benchmark", "detect", *MODEL, "--min-seconds", "nan"], "a finite number"),
    "benchmark threshold 7": (["benchmark", "detect", *MODEL, "--threshold", "7"], "between 0 and 1, not 7"),
    "benchmark warmup -1": (["benchmark", "detect", *MODEL, "--warmup", "-1"], "at least 0, not -1"),
    "send port too big": (["send", "--port", "99999"], "between 1 and 65535, not 99999"),
    "send port 0": (["send", "--port", "0"], "between 1 and 65535, not 0"),
    "send width too big": (["send", "--width", "99999"], "between 32 and 4096, not 99999"),
    "send fps infinite": (["send", "--fps", "inf"], "a finite number"),
    "receive timeout NaN": (["receive", "demo:", "--timeout", "nan"], "a finite number"),
    "receive threshold 3": (["receive", "demo:", "--detect", "--threshold", "3"], "between 0 and 1, not 3"),
    "report limit 0": (["report", "training", "--limit", "0"], "at least 1, not 0"),
    "report run text": (["report", "optimize", "--run", "nosuch"], "not a whole number: 'nosuch'"),
    "runs limit text": (["runs", "list", "--limit", "abc"], "not a whole number: 'abc'"),
    "serve threshold 9": (["serve", *MODEL, "--threshold", "9"], "between 0 and 1, not 9"),
    "serve port too big": (["serve", *MODEL, "--grpc-port", "99999"], "between 1 and 65535"),
    "download workers 1000": (["dataset", "download", "--classes", "Zebra", "--workers", "1000"],
                              "between 1 and 64, not 1000"),
    "download data a file": (["dataset", "download", "--classes", "Zebra", "--data", "{tmp}/a_file"],
                             "is a file, not a folder"),
    "synth into a file": (["dataset", "synth", "{tmp}/a_file"], "is a file, not a folder"),
    "jetson batch sizes empty": (["jetson", "pack", *MODEL, "--data", "{tmp}", "--output", "{tmp}/b",
                                  "--batch-sizes", ","], "like 1,8,32"),
    "jetson stream port too big": (["jetson", "pack", *MODEL, "--data", "{tmp}", "--output", "{tmp}/b",
                                    "--stream-port", "99999"], "between 1 and 65535, not 99999"),
    "jetson threads -1": (["jetson", "pack", *MODEL, "--data", "{tmp}", "--output", "{tmp}/b", "--threads", "-1"],
                          "at least 1, not -1"),
    "jetson calib images 0": (["jetson", "pack", *MODEL, "--data", "{tmp}", "--output", "{tmp}/b",
                               "--calib-images", "0"], "at least 1, not 0"),
}


# an output that cannot be written is refused by the parser, before any work is done
OUTPUTS = {
    "detect json into a folder": (["detect", *MODEL, "--image", IMAGE, "--json", "{tmp}/a_dir"], "is a folder"),
    "detect image into a folder": (["detect", *MODEL, "--image", IMAGE, "--output", "{tmp}/a_dir"], "is a folder"),
    "detect image under a file": (["detect", *MODEL, "--image", IMAGE, "--output", "{tmp}/a_file/x.jpg"],
                                  "a_file is a file, so"),
    "evaluate json into a folder": (["evaluate", *MODEL, "--data", "{tmp}", "--json", "{tmp}/a_dir"], "is a folder"),
    "export into a folder": (["export-onnx", *MODEL, "--output", "{tmp}/a_dir"], "is a folder"),
    "runs export csv into a folder": (["runs", "export", "--csv", "{tmp}/a_dir"], "is a folder"),
    "runs export jsonl under a file": (["runs", "export", "--jsonl", "{tmp}/a_file/deeper/h.jsonl"],
                                       "a_file is a file, so"),
    "send sdp into a folder": (["send", "--sdp", "{tmp}/a_dir", "--duration", "1"], "is a folder"),
    "train output under a file": (["train", "--data", "{tmp}", "--output", "{tmp}/a_file/model"], "a_file is a file"),
}
OPTION_VALUES.update(OUTPUTS)


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "a_dir").mkdir()
    monkeypatch.setenv("EDS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.delenv("EDS_DB_URL", raising=False)
    return tmp_path


def one_error_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


@pytest.mark.parametrize("case", list(OPTION_VALUES))
def test_a_bad_option_value_is_one_line_and_exit_2(case: str, places: Path, capsys) -> None:
    argv, words = OPTION_VALUES[case]
    err = one_error_line([arg.replace("{tmp}", str(places)) for arg in argv], capsys)
    assert words in err and "(see python -m core" in err
    assert list((places / "a_dir").iterdir()) == [] and (places / "a_file").read_text() == "not a folder"


RUNTIME_INPUTS = {
    "detect image as .txt": (["detect", *MODEL, "--image", IMAGE, "--output", "{tmp}/out.txt"],
                             "cannot write an image as '.txt'"),
    "export opset 3": (["export-onnx", *MODEL, "--output", "{tmp}/m.onnx", "--opset", "3"],
                       "ONNX opset 3 is not one PyTorch"),
    "history unreachable": (["runs", "--db-url", "postgresql://user:secret@127.0.0.1:1/none", "list"],
                            "cannot open the run history at postgresql://user:***@127.0.0.1:1/none"),
    "history not a database": (["runs", "--db-url", "sqlite:///{tmp}/a_file", "list"], "file is not a database"),
    "history folder under a file": (["runs", "--db-url", "sqlite:///{tmp}/a_file/h.sqlite", "list"],
                                    "cannot create the run history"),
    "optimize bad database URL": (["optimize", *MODEL, "--data", "{tmp}", "--db-url", "nonsense"],
                                  "not a database URL"),
    "optimize missing weights": (["optimize", "--weights", "{tmp}/none.pth", "--labels", str(DEMO / "labels.txt"),
                                  "--data", "{tmp}"], "weights file not found"),
    "optimize opset 3": (["optimize", *MODEL, "--data", "{tmp}", "--opset", "3"], "ONNX opset 3 is not one"),
}


@pytest.mark.parametrize("case", list(RUNTIME_INPUTS))
def test_a_bad_input_found_while_running_is_one_line_and_exit_2(case: str, places: Path, capsys) -> None:
    argv, words = RUNTIME_INPUTS[case]
    err = one_error_line([arg.replace("{tmp}", str(places)) for arg in argv], capsys)
    assert words in err
    assert "secret" not in err
    assert list((places / "a_dir").iterdir()) == [] and (places / "a_file").read_text() == "not a folder"


def test_resuming_from_a_checkpoint_of_other_shapes_is_one_line(places: Path, capsys) -> None:
    import torch

    from core.data.synthetic import make_synthetic_dataset

    data = make_synthetic_dataset(places / "shapes", images=10, seed=1)
    state = torch.load(DEMO / "mb1-ssd-demo-fp16.pth", weights_only=True)
    torch.save({key: tensor[:1] if tensor.ndim else tensor for key, tensor in state.items()},
               places / "mb1-ssd-Epoch-0-Loss-1.0.pth")
    err = one_error_line(["train", "--data", str(data), "--output", str(places / "model"), "--epochs", "1",
                          "--resume", str(places / "mb1-ssd-Epoch-0-Loss-1.0.pth")], capsys)
    assert "is not a pytorch-ssd mb1-ssd checkpoint: wrong shapes" in err


def test_an_option_error_in_a_real_process_is_one_line_without_usage() -> None:
    completed = subprocess.run([sys.executable, "-m", "core", "detect", *MODEL, "--image", IMAGE, "--threshold",
                                "abc"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert completed.stderr == ("error: python -m core detect: argument --threshold: not a number: 'abc' "
                                "(see python -m core detect --help)\n")
