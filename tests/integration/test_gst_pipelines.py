"""The GStreamer pipeline texts we hand to people (core.stream.pipelines, the README's Jetson sender command; every
sender preset runs in test_gst_sender_presets) are run with gst-launch-1.0 to PLAYING and end of stream on
127.0.0.1: Jetson-only elements are swapped for software stand-ins, everything else runs as written. A missing
gst-launch-1.0 fails (the README's setup installs it).

Our parser (core.gst.syntax) is compared with GStreamer's own on a corpus: every pipeline we offer (examples, sender
presets, receive and send pipelines), the GStreamer basics as printed, and tricky syntax (quotes, escaped spaces,
caps with spaces, named pads, `t. ! queue`, bins, URIs, `:`). GStreamer's side comes from its Python bindings
(gst_parse_reference.py, run by the distribution's Python): the description `gst_parse_launchv` builds, its lexer's
tokens (GST_PIPELINE debug log), and, where every element exists here, the elements in order, their properties,
the caps and the links it made. Lines we refuse are refused by GStreamer too."""
from __future__ import annotations

import contextlib
import json
import re
import shlex
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from rtsp_helpers import SYSTEM_PYTHON
from stream_helpers import (FRAMES, free_udp_port, receive_with_our_receiver, start_gst_sender,
                            wait_until_listening, with_stand_ins)

from core.errors import UserError
from core.gst import examples, lexer
from core.gst.launch_line import read_launch_line
from core.gst.jetson_sender import PRESETS, preset_options, sender_command
from core.gst.syntax import ParsedPipeline, parse_pipeline
from core.stream.pipelines import receive_pipeline, software_send_pipeline
from tests.unit.test_gst_explain import PARSE_ERRORS
from tests.unit.test_gst_sender import readme_seed_command

REFERENCE_SCRIPT = Path(__file__).with_name("gst_parse_reference.py")


def _ending_by_itself(arguments: list[str], buffers: int) -> list[str]:
    """A receive pipeline that gst-launch can run to its end: udpsrc sends end-of-stream after `buffers` packets,
    and the appsink, which no application pulls from here, does not wait for its queue to be pulled."""
    source, sink = arguments.index("udpsrc"), arguments.index("appsink")
    return (arguments[:source + 1] + [f"num-buffers={buffers}"] + arguments[source + 1:sink + 1]
            + ["wait-on-eos=false"] + arguments[sink + 1:])


@pytest.mark.timeout(90)
def test_the_readme_seed_command_runs_with_stand_ins_and_is_received() -> None:
    command = readme_seed_command()
    assert "omxh265enc" in command and "udpsink host=HOST port=5000" in command
    health = receive_with_our_receiver(with_stand_ins(command, "h265"), "h265")
    assert health["frames_decoded"] >= FRAMES - 5 and (health["width"], health["height"]) == (640, 480)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("jetson", [True, False], ids=["jetson", "pc"])
def test_receive_pipeline_text_runs_to_end_of_stream_and_delivers_bgr(jetson: bool) -> None:
    port = free_udp_port()
    arguments = with_stand_ins("gst-launch-1.0 " + receive_pipeline(port=port, jetson=jetson), "h265")
    receiver = subprocess.Popen(_ending_by_itself(arguments[:1] + ["-v"] + arguments[1:], 450),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sender = None
    try:
        wait_until_listening(port)
        sender = start_gst_sender(port, "h265", frames=300)
        output, errors = receiver.communicate(timeout=30)
    finally:
        receiver.kill()
        if sender is not None:
            sender.kill()
            sender.wait(timeout=5)
    assert receiver.returncode == 0, errors.decode()[-800:]
    log = output.decode()
    assert "Got EOS from element" in log
    sink_caps = [line for line in log.splitlines() if "GstAppSink:sink.GstPad:sink: caps = video/x-raw" in line]
    assert sink_caps, log[-2000:]
    assert all(field in sink_caps[-1] for field in ("format=(string)BGR", "width=(int)640", "height=(int)480"))


def test_stand_ins_leave_no_jetson_element_behind() -> None:
    texts = [sender_command(preset_options(name, "h")) for name in PRESETS]
    texts += ["gst-launch-1.0 " + receive_pipeline(), readme_seed_command()]
    for text in texts:
        swapped = " ".join(with_stand_ins(text, "h265"))
        assert not re.search(r"\bnv\w+|omx\w+|NVMM|v4l2src", swapped), swapped
    software = software_send_pipeline(host="127.0.0.1", port=5000)
    assert with_stand_ins("gst-launch-1.0 " + software, "h265")[1:] == shlex.split(software)


TRICKY = [
    'gst-launch-1.0 filesrc location="a b.mp4" ! fakesink',
    "gst-launch-1.0 filesrc location='a b.mp4' ! fakesink name=\\\"quoted\\\"",
    "gst-launch-1.0 filesrc location=/tmp/a\\ b.mp4 ! fakesink",
    "videotestsrc num-buffers = 3 ! fakesink",
    "videotestsrc ! 'video/x-raw, width=320, height=240' ! fakesink",
    "videotestsrc ! video/x-raw, width=320 , height=240 ! fakesink sync=false",
    "videotestsrc ! 'video/x-raw(memory:SystemMemory),width=320' ! fakesink",
    "videotestsrc ! 'video/x-raw;video/x-bayer' ! fakesink",
    "videotestsrc ! video/x-raw,format=\\(string\\)I420 ! fakesink",
    "videotestsrc ! tee name=t t. ! queue ! fakesink t. ! queue ! fakesink",
    "videotestsrc ! tee name=t t.src_0 ! queue ! fakesink t.src_1 ! queue!fakesink",
    "videotestsrc ! .sink tee .src_0 ! fakesink",
    "videotestsrc ! x264enc ! m.video_0 qtmux name=m ! fakesink",
    "qtmux name=m ! fakesink videotestsrc ! x264enc ! m.",
    "videotestsrc ! \\( queue ! fakesink \\)",
    "videotestsrc ! '(' name=inner queue ! videoconvert ')' ! fakesink",
    "'bin.(' videotestsrc ! fakesink ')'",
    "file:///tmp/does-not-matter.mp4 ! fakesink",
    "videotestsrc : fakesink",
    "gst-launch-1.0 -e -v --gst-debug=GST_PIPELINE:5 videotestsrc ! fakesink",
    'udpsrc port=5000 caps="application/x-rtp, media=video, encoding-name=H265" ! fakesink',
    "fakesrc ! fakesink name=sink\\!one",
]
# properties an element sets itself: tee counts the pads linked to it, qtmux names a temporary file per instance,
# udpsrc's uri follows its port, udpsink's clients its host and port
SELF_SET_PROPERTIES = {"tee": {"num-src-pads"}, "qtmux": {"faststart-file"}, "udpsrc": {"uri"},
                       "udpsink": {"clients"}}


def _corpus() -> list[str]:
    lines = list(examples.EXAMPLES.values()) + TRICKY
    lines += [sender_command(preset_options(name, "192.168.1.10")) for name in PRESETS]
    lines += [receive_pipeline(jetson=jetson) for jetson in (True, False)]
    return lines + [software_send_pipeline(host="127.0.0.1", port=5000)]


def _gstreamer(cases: list[dict]) -> list[dict]:
    result = subprocess.run([SYSTEM_PYTHON, str(REFERENCE_SCRIPT)], input=json.dumps(cases), capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, (f"GStreamer's Python bindings are needed (python3-gi, gir1.2-gstreamer-1.0: "
                                    f"scripts/setup.sh --dev): {result.stderr[-800:]}")
    return json.loads(result.stdout)


def _token(token: lexer.LexToken) -> list[str]:
    """Our token as GStreamer's lexer logs it."""
    if token.kind == lexer.PADREF:
        return [token.kind, token.text[1:]]
    if token.kind == lexer.BINREF:
        return [token.kind, token.text.split(".")[0].rstrip()]
    if token.kind == lexer.URL:
        return [token.kind, lexer.unescape(token.text)]
    if token.kind == lexer.OPERATOR:
        return [token.kind, f"[{token.text}]"]
    if token.kind == lexer.PRESET:
        return [token.kind, token.text.partition("=")[2]]
    if token.kind == lexer.INVALID:
        return ["Invalid Lexer element", token.text + "\n"]
    return ["LINK" if token.kind == lexer.LINK_ALL else token.kind, token.text]


def _elements_of(parsed: ParsedPipeline, parent: int) -> list:
    return [p for p in parsed.pieces if p.parent == parent and p.kind in ("element", "bin", "uri")]


def _compare_built(parsed: ParsedPipeline, answer: dict, caps_read: dict[str, str]) -> None:
    """The elements, properties, caps and links GStreamer built are the ones we read."""
    names: dict[int, str] = {}
    for parent in [0] + [p.index for p in parsed.pieces if p.kind == "bin"]:
        ours = _elements_of(parsed, parent)
        theirs = answer["bins"][names.get(parent, "")]
        assert [p.factory for p in ours if p.kind != "uri"] == [f for (f, _), p in zip(theirs, ours) if p.kind != "uri"]
        caps_links = [link for link in parsed.link_details if link.caps and parsed.piece(link.source).parent == parent]
        assert [f for f, _ in theirs[len(ours):]] == ["capsfilter"] * len(caps_links), theirs
        names.update({piece.index: name for piece, (_, name) in zip(ours, theirs)})
    for piece in (p for p in parsed.pieces if p.kind in ("element", "bin")):
        written = {s.name: s.value for s in piece.properties if s.name != "name"}
        given = {s.value for s in piece.properties if s.name == "name"}
        assert given <= {names[piece.index]}
        differing = set(answer["properties"][names[piece.index]]) - SELF_SET_PROPERTIES.get(piece.factory, set())
        assert differing <= set(written), (piece.text, differing)
        for name, value in written.items():
            assert answer["all"][names[piece.index]][name] == answer["expected"][f"{piece.index}:{name}"], (
                piece.text, name, value)

    def end(index: int) -> str:
        piece = parsed.piece(index)
        return piece.name if piece.kind == "reference" else names[index]

    ours = Counter((end(link.source), end(link.sink), caps_read[parsed.piece(link.caps).caps] if link.caps else None,
                    len(link.source_pads), len(link.sink_pads)) for link in parsed.link_details)
    assert ours == Counter(tuple(link) for link in answer["links"])


@pytest.mark.timeout(180)
def test_our_parser_reads_every_corpus_line_as_gstreamer_does() -> None:
    parsed = [parse_pipeline(line) for line in _corpus()]
    cases = [{"arguments": list(p.arguments), "caps": [piece.caps for piece in p.pieces if piece.kind == "caps"],
              "properties": [[f"{piece.index}:{s.name}", piece.factory, s.name, s.value] for piece in p.pieces
                             if piece.kind in ("element", "bin") for s in piece.properties]} for p in parsed]
    built = 0
    for pipeline, case, answer in zip(parsed, cases, _gstreamer(cases), strict=True):
        assert answer["description"] == pipeline.description, pipeline.text
        assert answer["tokens"] == [_token(t) for t in lexer.lex(pipeline.description)], pipeline.text
        if answer["error"] is not None:  # only an element that exists on a Jetson alone may be missing here
            missing = re.fullmatch(r'no element "(?P<factory>[^"]+)"', answer["error"])
            assert missing and missing["factory"] in {p.factory for p in pipeline.pieces}, (pipeline.text, answer)
            assert re.match(r"nv|omx", missing["factory"]), (pipeline.text, answer["error"])
            continue
        _compare_built(pipeline, answer, dict(zip(case["caps"], answer["caps"], strict=True)))
        built += 1
    assert built >= len(TRICKY) + 3  # the tricky lines and the basics are built here, not only tokenized


ODD_DESCRIPTIONS = [
    "fakesrc ! n/abc", "fakesrc ! v/abc", 'fakesrc name = "a b" ! fakesink', "fakesrc name='a b'", "a\\ b ! c",
    "fakesrc # a comment ! not read\n! fakesink", "x264enc @preset=fast ! fakesink", "bin . ( fakesrc ! fakesink )",
    "fakesrc ! video/x-raw ; video/x-bayer ! fakesink", "fakesrc ! video/x-raw,;x=1 ! fakesink",
    "fakesrc ! video/x-raw,x=\\! fakesink ! fakesink", "fakesrc ! video/x-raw(memory:NVMM)",
    "fakesrc ! video/x-raw,a=b : fakesink", "fakesrc { } ; = , fakesink", "src.src_0,src_1 ! .sink fakesink",
    "file:// ! fakesink", "fakesrc ! rtp+udp.x://h:1/p", "fakesrc \"x\" 'y' ! fakesink", "fakesrc name=é ! fakesink",
]


@pytest.mark.timeout(120)
def test_our_lexer_cuts_odd_descriptions_as_gstreamer_does() -> None:
    answers = _gstreamer([{"description": text} for text in ODD_DESCRIPTIONS])
    for text, answer in zip(ODD_DESCRIPTIONS, answers, strict=True):
        assert answer["tokens"] == [_token(t) for t in lexer.lex(text)], text


@pytest.mark.timeout(120)
def test_lines_we_refuse_gstreamer_refuses_too() -> None:
    """Every line the unit tests' parse errors list that gets past the shell and the options is refused by
    GStreamer's parser as well (the rest never reaches it)."""
    arguments = []
    for line, *_ in PARSE_ERRORS:
        with contextlib.suppress(UserError):
            arguments.append([word.text for word in read_launch_line(line).arguments])
    assert len(arguments) >= 15
    answers = _gstreamer([{"arguments": words} for words in arguments])
    assert [answer["error"] is not None for answer in answers] == [True] * len(arguments), answers
