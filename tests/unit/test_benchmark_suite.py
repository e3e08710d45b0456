"""The benchmark suite's plumbing: verdicts, the Markdown table, the README block, scenarios that fail or cannot
run, and the peer's pinned install. No scenario is timed here."""
from __future__ import annotations

import argparse
import io
import json
import tarfile

import pytest

from benchmarks import peer, suite


def test_verdicts_follow_bounds_and_the_peer_ratio():
    fast = suite.judged("1", "int8", 5.0, "ms", at_most=6.0, peer=50.0, extra_goal=("≥ 7× pytorch-ssd", True))
    assert fast["verdict"] == "met" and fast["ratio"] == pytest.approx(10.0)
    assert fast["target"] == "≤ 6 ms and ≥ 7× pytorch-ssd"
    assert suite.judged("1", "int8", 5.0, "ms", at_most=6.0, extra_goal=("≥ 7×", False))["verdict"] == "missed"
    assert suite.judged("2", "fps", 28.9, "fps", at_least=29.0)["verdict"] == "missed"
    assert suite.judged("2", "fps", 29.0, "fps", at_least=29.0)["verdict"] == "met"
    assert suite.judged("2", "latency", None, "ms", at_most=60.0)["verdict"] == "missed"


def _result(rows, seconds=600.0) -> dict:
    machine = {"cpu": "Some CPU", "cpu_count": 2, "gpus": [], "libraries": {"torch": "2.x", "onnxruntime": "1.x"}}
    return {"machine": machine, "finished_at": "2026-11-30T15:30:00Z", "seconds": seconds,
            "scenarios": [{"key": "cpu_detect", "rows": rows}]}


def test_markdown_table_has_one_line_per_row():
    rows = [suite.judged("1. CPU detect", "onnxruntime INT8", 5.5, "ms", at_most=6.0, peer=44.0),
            suite.not_run("3. GPU detect", "", "≥ 25,000 img/s", "skipped: no CUDA GPU")]
    lines = suite.markdown_table([_result(rows)]).splitlines()
    assert lines[0] == "| scenario | target | ours | pytorch-ssd | ratio | verdict |"
    assert lines[2] == "| 1. CPU detect: onnxruntime INT8 | ≤ 6 ms | 5.50 ms | 44.0 ms | 8.0× | met |"
    assert lines[3] == "| 3. GPU detect | ≥ 25,000 img/s | – | – | – | skipped: no CUDA GPU |"


def test_update_readme_replaces_only_the_marked_block(tmp_path):
    result = tmp_path / "suite.json"
    result.write_text(json.dumps(_result([suite.judged("1. CPU detect", "x", 12.0, "ms", at_most=13.0)])))
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n## Performance\n{suite.README_START}\nold\n{suite.README_END}\n\n## After\n")
    suite.main(["--update-readme", str(result), "--readme", str(readme)])
    text = readme.read_text()
    assert text.startswith("# Title\n\n## Performance\n<!-- performance:start -->\nMeasured by") and "old" not in text
    assert "| 1. CPU detect: x | ≤ 13 ms | 12.0 ms | – | – | met |" in text
    assert "Some CPU (2 cores)" in text and str(tmp_path) not in text
    assert text.endswith(f"{suite.README_END}\n\n## After\n")


def test_readme_without_markers_is_refused(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no block\n")
    result = tmp_path / "suite.json"
    result.write_text(json.dumps(_result([])))
    with pytest.raises(SystemExit, match="no <!-- performance:start -->"):
        suite.update_readme(readme, [result])


def test_a_failing_scenario_is_an_error_row_and_a_failed_run(monkeypatch):
    def explode(args):
        raise RuntimeError("sender never started\nsecond line")

    monkeypatch.setitem(suite.SCENARIOS, "live", suite.Scenario("2. Live pipeline", explode, "≥ 29 fps"))
    outcome = suite.run_scenario("live", argparse.Namespace())
    (row,) = outcome["rows"]
    assert row["verdict"] == "error: sender never started" and row["target"] == "≥ 29 fps"


def test_a_scenario_that_runs_records_its_metrics(monkeypatch):
    from tests.history_helpers import recorded_run

    rows = [suite.judged("5. Viewers", "ratio", 1.1, "×", at_most=1.2, metric="viewers_cpu_ratio")]
    monkeypatch.setitem(suite.SCENARIOS, "viewers", suite.Scenario("5. Viewers", lambda args: ({"n": 1}, rows), "-"))
    outcome = suite.run_scenario("viewers", argparse.Namespace())
    assert outcome["rows"] == rows and outcome["details"] == {"n": 1}
    run = recorded_run(outcome["run_id"])
    assert run.params == {"benchmark": "suite/viewers"} and run.status == "succeeded"
    assert [(m.name, m.value) for m in run.metrics] == [("viewers_cpu_ratio", 1.1)]


def test_gpu_scenarios_say_why_they_do_not_run(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    outcome = suite.run_scenario("gpu_train", argparse.Namespace())
    assert "run_id" not in outcome and len(outcome["rows"]) >= 2
    assert {row["verdict"] for row in outcome["rows"]} == {"skipped: no CUDA GPU"}
    assert {row["scenario"] for row in outcome["rows"]} == {"4. GPU training"}
    line = suite.markdown_table([_result(outcome["rows"])]).splitlines()[2]
    assert line.startswith("| 4. GPU training: training, batch 64") and line.endswith("| skipped: no CUDA GPU |")


def _archive(tmp_path, files: dict[str, bytes]):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"pytorch-ssd-commit/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    path = tmp_path / "peer.tar.gz"
    path.write_bytes(buffer.getvalue())
    return path


def test_peer_installs_only_the_pinned_content(tmp_path, monkeypatch):
    files = {"vision/__init__.py": b"", "vision/ssd/predictor.py": b"# predictor\n"}
    monkeypatch.setenv(peer.ARCHIVE_VARIABLE, str(_archive(tmp_path, files)))
    with pytest.raises(peer.PeerUnavailable, match="content digest differs"):
        peer.install_peer(tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    unpacked = tmp_path / "expected"
    for name, data in files.items():
        (unpacked / name).parent.mkdir(parents=True, exist_ok=True)
        (unpacked / name).write_bytes(data)
    monkeypatch.setattr(peer, "PEER_TREE_SHA256", peer.tree_digest(unpacked))
    installed = peer.install_peer(tmp_path / "installed")
    assert (installed / "vision" / "ssd" / "predictor.py").read_bytes() == b"# predictor\n"


def test_peer_without_an_archive_says_how_to_give_one(tmp_path, monkeypatch):
    monkeypatch.setenv(peer.ARCHIVE_VARIABLE, str(tmp_path / "missing.tar.gz"))
    with pytest.raises(peer.PeerUnavailable, match="PYTORCH_SSD_ARCHIVE=.* cannot be read"):
        peer.install_peer(tmp_path / "peer")


@pytest.mark.parametrize("sender", ["replay", "encode"])
def test_live_pipeline_measures_a_real_sender_on_loopback(random_model, sender):
    from benchmarks import live_pipeline
    from core.detect import DetectorSpec

    weights, labels = random_model
    spec = DetectorSpec(weights, labels, backend="onnxruntime", device="cpu", threads=1)
    result = live_pipeline.measure(spec, width=320, height=240, seconds=2.0, window=1.0, sender_kind=sender)
    assert result["size"] == "320x240" and result["sender"] == sender
    assert result["fps_processed"] > 0 and result["latency_ms"]["count"] > 0 and result["decode_errors"] == 0
    assert [window["from_s"] for window in result["windows"]] == [0.0, 1.0]
    assert result["detector"]["backend"] == "onnxruntime" and "infer" in result["stages_ms_p50"]
