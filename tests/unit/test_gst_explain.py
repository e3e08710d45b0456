"""Explaining and converting gst-launch-1.0 lines: the seed's three pipelines checked field by field against
hand-written expectations (registry facts are Debian 12's GStreamer 1.22, the others NVIDIA's), parse errors that
point at the offending piece, and the display-sink conversion of the seed's Q1."""
from __future__ import annotations

import json

import pytest

from core.cli import main
from core.errors import UserError
from core.gst.caps import parse_caps
from core.gst.convert import convert_for_display
from core.gst.explain import SOURCE_UNKNOWN, explain_pipeline
from core.gst.examples import DISPLAY, RECEIVER, SENDER
from core.gst.nvidia import SOURCE_NVIDIA
from core.gst.registry import SOURCE_REGISTRY, inspect_element
from core.gst.syntax import parse_pipeline, tokenize

REGISTRY, NVIDIA = SOURCE_REGISTRY, SOURCE_NVIDIA
CAPSFILTER = ("caps filter", "capsfilter", "Generic", "CapsFilter", REGISTRY)
NVVIDCONV = ("element", "nvvidconv", "Filter/Converter/Video/Scaler", "NvVidConv Plugin", NVIDIA)
H265PARSE = ("element", "h265parse", "Codec/Parser/Converter/Video", "H.265 parser", REGISTRY)


def _elements(explanation) -> list[tuple]:
    return [(row.kind, row.factory, row.klass, row.long_name, row.source) for row in explanation.elements]


def _properties(explanation) -> list[tuple]:
    return [(row.index, row.element, row.name, row.value, row.type, row.default, row.status)
            for row in explanation.properties]


def _caps(explanation) -> list[tuple]:
    return [(row.index, row.origin, row.media_type, row.features, row.fields) for row in explanation.caps]


def test_the_seed_sender_field_by_field() -> None:
    explanation = explain_pipeline(SENDER)
    assert [option.flag for option in explanation.options] == ["-e"]
    assert _elements(explanation) == [
        ("element", "v4l2src", "Source/Video", "Video (video4linux2) Source", REGISTRY),
        CAPSFILTER,
        NVVIDCONV,
        ("element", "omxh265enc", "Codec/Encoder/Video", "OpenMAX H.265 Video Encoder", NVIDIA),
        H265PARSE,
        ("element", "rtph265pay", "Codec/Payloader/Network/RTP", "RTP H265 payloader", REGISTRY),
        ("element", "udpsink", "Sink/Network", "UDP packet sender", REGISTRY),
    ]
    assert explanation.elements[0].description == "Reads frames from a Video4Linux2 device"
    assert explanation.elements[6].description == "Send data over the network via UDP"
    assert _properties(explanation) == [
        (4, "omxh265enc", "insert-vui", "1", "Boolean", "false", "known"),
        (6, "rtph265pay", "config-interval", "1", "Integer", "0", "known"),
        (7, "udpsink", "host", "HOST", "String", "localhost", "known"),
        (7, "udpsink", "port", "5000", "Integer", "5004", "known"),
        (7, "udpsink", "sync", "false", "Boolean", "true", "known"),
    ]
    assert _caps(explanation) == [(2, "caps filter", "video/x-raw", (), (
        ("framerate", "30/1", "fraction"), ("width", "640", "int"), ("height", "480", "int")))]
    assert explanation.links == ((1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7))


def test_the_seed_receiver_field_by_field() -> None:
    explanation = explain_pipeline(RECEIVER)
    assert explanation.options == ()
    # xvimagesink comes with Debian's gstreamer1.0-x, which the setup does not install: unknown unless present
    xvimagesink = (("element", "xvimagesink", "Sink/Video", "Video sink", REGISTRY) if inspect_element("xvimagesink")
                   else ("element", "xvimagesink", "", "", SOURCE_UNKNOWN))
    assert _elements(explanation) == [
        ("element", "udpsrc", "Source/Network", "UDP packet receiver", REGISTRY),
        ("element", "rtph265depay", "Codec/Depayloader/Network/RTP", "RTP H265 depayloader", REGISTRY),
        H265PARSE,
        ("element", "nvv4l2decoder", "Codec/Decoder/Video", "NVIDIA v4l2 video decoder", NVIDIA),
        NVVIDCONV,
        xvimagesink,
    ]
    assert _properties(explanation) == [
        (1, "udpsrc", "port", "5000", "Integer", "5004", "known"),
        (1, "udpsrc", "caps", "application/x-rtp,media=video,encoding-name=H265,payload=96", "Caps", None, "known"),
    ]
    assert _caps(explanation) == [(1, "udpsrc's caps property", "application/x-rtp", (), (
        ("media", "video", "string"), ("encoding-name", "H265", "string"), ("payload", "96", "int")))]
    assert explanation.links == ((1, 2), (2, 3), (3, 4), (4, 5), (5, 6))


def test_the_seed_display_pipeline_field_by_field() -> None:
    explanation = explain_pipeline(DISPLAY)
    assert [option.flag for option in explanation.options] == ["-e"]
    assert _elements(explanation) == [
        ("element", "nvarguscamerasrc", "Source/Video", "NvArgusCameraSrc", NVIDIA),
        CAPSFILTER,
        NVVIDCONV,
        ("element", "nvegltransform", "Filter/Converter/Video", "EGL Transform", NVIDIA),
        ("element", "nveglglessink", "Sink/Video", "EGL/GLES vout Sink", NVIDIA),
    ]
    assert explanation.elements[1].text == "'video/x-raw(memory:NVMM),width=1920,height=1080,framerate=30/1'"
    assert explanation.properties == ()
    assert _caps(explanation) == [(2, "caps filter", "video/x-raw", ("memory:NVMM",), (
        ("width", "1920", "int"), ("height", "1080", "int"), ("framerate", "30/1", "fraction")))]


def test_unknown_and_uncovered_properties_are_said_so_not_invented() -> None:
    explanation = explain_pipeline("videotestsrc pattrn=ball ! nvvidconv flip-method=2 interpolation-method=1 "
                                   "! frobnicator level=3 ! fakesink")
    assert [(row.name, row.status) for row in explanation.properties] == [
        ("pattrn", "not a property of this element"), ("flip-method", "known"),
        ("interpolation-method", "not covered by the NVIDIA facts"), ("level", "unknown element")]
    assert explanation.elements[2].source == SOURCE_UNKNOWN and explanation.elements[2].klass == ""


def test_values_that_do_not_fit_their_property_are_flagged() -> None:
    explanation = explain_pipeline("videotestsrc is-live=maybe num-buffers=x pattern=bal ! rtph265pay "
                                   "config-interval=5000 pt=0x60 aggregate-mode=1 ! udpsink port=70000 sync=1")
    assert [(row.name, row.problem) for row in explanation.properties] == [
        ("is-live", "'maybe' is not a boolean (true or false)"), ("num-buffers", "'x' is not a whole number"),
        ("pattern", "'bal' is not one of smpte, snow, black, white, red, green, blue, checkers-1, checkers-2, "
                    "checkers-4, checkers-8, circular, blink, smpte75, zone-plate, gamut, chroma-zone-plate, "
                    "solid-color, ball, smpte100, bar, pinwheel, spokes, gradient, colors, smpte-rp-219"),
        ("config-interval", "5000 is outside -1 - 3600"), ("pt", ""), ("aggregate-mode", ""),
        ("port", "70000 is outside 0 - 65535"), ("sync", "")]
    assert all(row.problem == "" for row in explain_pipeline(SENDER).properties)


def test_an_unknown_elements_caps_like_value_is_shown_as_caps_only_when_it_parses() -> None:
    explanation = explain_pipeline("frobsrc location=videos/a.mp4 other=a/b,c filter=video/x-raw,width=320 ! fakesink")
    assert _caps(explanation) == [(1, "frobsrc's filter property", "video/x-raw", (), (("width", "320", "int"),))]


def test_without_gstreamer_only_the_nvidia_facts_answer() -> None:
    explanation = explain_pipeline(SENDER, lookup=lambda factory: None)
    assert [row.source for row in explanation.elements] == [SOURCE_UNKNOWN] * 2 + [NVIDIA] * 2 + [SOURCE_UNKNOWN] * 3


def test_registry_property_details() -> None:
    udpsink = inspect_element("udpsink")
    assert udpsink is not None and udpsink.klass == "Sink/Network"
    port = udpsink.properties["port"]
    assert (port.type, port.default, port.range) == ("Integer", "5004", "0 - 65535")
    mode = inspect_element("rtph265pay").properties["aggregate-mode"]
    assert (mode.type, mode.default, mode.choices) == ('Enum "GstRtpH265AggregateMode"', "none (0)",
                                                       ("none", "zero-latency", "max"))
    assert inspect_element("capsfilter").properties["caps"].type == "Caps"
    assert inspect_element("no-such-element") is None


@pytest.mark.parametrize(("line", "column", "problem", "snippet"), [
    ("gst-launch-1.0 videotestsrc ! ! fakesink", 29, "empty element between two '!'", "! !"),
    ("videotestsrc !", 14, "'!' with nothing after it", "!"),
    ("! fakesink", 1, "'!' with nothing before it", "!"),
    ("videotestsrc pattern= ! fakesink", 14, "bad property, expected name=value", "pattern="),
    ("videotestsrc =ball ! fakesink", 14, "bad property, expected name=value", "=ball"),
    ("videotestsrc ! 'video/x-raw,width=640 ! fakesink", 16, "unbalanced single quote",
     "'video/x-raw,width=640 ! fakesink"),
    ('udpsrc caps="application/x-rtp ! fakesink', 13, "unbalanced double quote", '"application/x-rtp ! fakesink'),
    ("videotestsrc ! 640 ! fakesink", 16, "not an element, caps or name=value property", "640"),
    ("videotestsrc ! '' ! fakesink", 16, "empty element", "''"),
    ("videotestsrc ! width=640 ! fakesink", 16, "property that follows no element", "width=640"),
    ("videotestsrc -z ! fakesink", 14, "unknown gst-launch-1.0 option", "-z"),
])
def test_parse_errors_point_at_the_piece(line: str, column: int, problem: str, snippet: str) -> None:
    with pytest.raises(UserError) as raised:
        explain_pipeline(line)
    assert str(raised.value) == f"syntax error at column {column}: {problem}: {snippet!r}"


def test_a_bad_caps_field_names_its_piece() -> None:
    with pytest.raises(UserError, match=r"piece 2 at column 16 \('video/x-raw,640'\): caps field without "
                                        r"name=value .*'640'"):
        explain_pipeline("videotestsrc ! video/x-raw,640 ! fakesink")


def test_shell_quoting_links_without_spaces_and_named_elements() -> None:
    assert [token.text for token in tokenize("a\\\n  caps='x y'\"!z\" !b")] == ["a", "caps=x y!z", "!", "b"]
    parsed = parse_pipeline("tee name=t ! queue ! fakesink t. ! queue max-size-buffers=1!fakesink -v -X stats")
    assert [(piece.kind, piece.factory or piece.name) for piece in parsed.pieces] == [
        ("element", "tee"), ("element", "queue"), ("element", "fakesink"), ("reference", "t"),
        ("element", "queue"), ("element", "fakesink")]
    assert parsed.links == ((1, 2), (2, 3), (4, 5), (5, 6))
    assert parsed.piece(5).text == "queue max-size-buffers=1"
    assert [(option.flag, option.argument) for option in parsed.options] == [("-v", None), ("-X", "stats")]


def test_caps_types_features_lists_and_ranges() -> None:
    (structure,) = parse_caps("video/x-raw(memory:NVMM, meta:GstVideoOverlayComposition),format={ I420, NV12 },"
                              "width=(int)[ 16, 4096 ],framerate=(fraction)30/1,interlaced=false,par=1.5")
    assert structure.features == ("memory:NVMM", "meta:GstVideoOverlayComposition")
    assert [(f.name, f.value, f.type, f.written_type) for f in structure.fields] == [
        ("format", "{ I420, NV12 }", "list", False), ("width", "[ 16, 4096 ]", "int", True),
        ("framerate", "30/1", "fraction", True), ("interlaced", "false", "boolean", False),
        ("par", "1.5", "double", False)]
    assert [s.media_type for s in parse_caps("video/x-h264; video/x-h265")] == ["video/x-h264", "video/x-h265"]


def test_convert_the_seed_receiver_for_jetpack_4_and_5() -> None:
    prefix = RECEIVER.removesuffix("xvimagesink")
    jetpack4 = convert_for_display(RECEIVER + " sync=false display=:0", jetpack=4)
    assert jetpack4.converted == prefix + "nvegltransform ! nveglglessink sync=false -e"
    assert [(change.before, change.after) for change in jetpack4.changes] == [
        ("xvimagesink sync=false display=:0", "nvegltransform ! nveglglessink sync=false"),
        ("display=:0", ""), ("", "-e")]
    assert "nvegltransform" in jetpack4.changes[0].why and "NVMM" in jetpack4.changes[0].why
    jetpack5 = convert_for_display(RECEIVER, jetpack=5)
    assert jetpack5.converted == prefix + "nv3dsink -e"


def test_convert_adds_nvvidconv_keeps_the_rest_as_written_and_refuses_nothing_to_do() -> None:
    line = "gst-launch-1.0 -e   videotestsrc ! 'video/x-raw,width=320' !  autovideosink"
    converted = convert_for_display(line, jetpack=4)
    assert converted.converted == ("gst-launch-1.0 -e   videotestsrc ! 'video/x-raw,width=320' !  nvvidconv ! "
                                   "nvegltransform ! nveglglessink")
    assert "nvvidconv moves frames into NVMM" in converted.changes[0].why
    with pytest.raises(UserError, match="no display sink to convert"):
        convert_for_display(DISPLAY)
    with pytest.raises(UserError, match="JetPack release must be 4 or 5"):
        convert_for_display(RECEIVER, jetpack=6)


def test_command_line_explain_and_convert(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["streams", "explain", RECEIVER]) == 0
    text = capsys.readouterr().out
    assert "1. element udpsrc port=5000" in text
    assert ("   capability (udpsrc's caps property): application/x-rtp; media=video (string), encoding-name=H265 "
            "(string), payload=96 (int)") in text
    assert main(["streams", "explain", DISPLAY, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["caps"][0]["features"] == ["memory:NVMM"]
    assert main(["streams", "convert", RECEIVER, "--jetpack", "5"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == RECEIVER.removesuffix("xvimagesink") + "nv3dsink -e"
    assert main(["streams", "explain", "videotestsrc ! ! fakesink"]) == 2
    assert capsys.readouterr().err.strip() == "error: syntax error at column 14: empty element between two '!': '! !'"


def test_a_name_shaped_like_an_option_never_reaches_gst_inspect(monkeypatch) -> None:
    from core.gst import registry

    calls = []
    monkeypatch.setattr(registry.subprocess, "run", lambda *args, **kwargs: calls.append(args) or None)
    for name in ("--gst-plugin-path=/tmp", "-b", "a b", "x" * 65, ""):
        assert registry.inspect_element(name) is None
    assert calls == []
