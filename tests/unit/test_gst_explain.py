"""Explaining and converting gst-launch-1.0 lines: the GStreamer basics and the Jetson's pipelines checked field by
field against hand-written expectations (registry facts are Debian 12's GStreamer 1.22 with the X video sinks of
gstreamer1.0-x, the others NVIDIA's), gst-launch-1.0's syntax (shell quoting, caps with spaces, named pads, bins,
URIs), parse errors that point at the offending piece, the display-sink conversion, and the bounds on the work one
explanation may cause, counted with fake lookups. (The same parser against GStreamer's own, line by line, is
tests/integration/test_gst_pipelines.py.)"""
from __future__ import annotations

import json
import subprocess
import threading

import pytest

from core.cli import main
from core.errors import UserError
from core.gst.caps import parse_caps
from core.gst.convert import convert_for_display
from core.gst.element_info import SOURCE_REGISTRY, inspect_element
from core.gst.examples import (BASICS_EFFECT, BASICS_PROPERTY_OR_CAPABILITY, BASICS_SHOW, DISPLAY, RECEIVER,
                                SENDER)
from core.gst.explain import (MAX_LOOKUPS, SOURCE_UNKNOWN, explain_pipeline, explanation_text,
                              properties_and_capabilities)
from core.gst.nvidia import SOURCE_NVIDIA
from core.gst.syntax import MAX_PIECES, Link, parse_description, parse_pipeline, tokenize
from tests.polling import wait_until

REGISTRY, NVIDIA = SOURCE_REGISTRY, SOURCE_NVIDIA
CAPSFILTER = ("caps filter", "capsfilter", "Generic", "CapsFilter", REGISTRY)
NVVIDCONV = ("element", "nvvidconv", "Filter/Converter/Video/Scaler", "NvVidConv Plugin", NVIDIA)
H265PARSE = ("element", "h265parse", "Codec/Parser/Converter/Video", "H.265 parser", REGISTRY)
XVIMAGESINK = ("element", "xvimagesink", "Sink/Video", "Video sink", REGISTRY)
V4L2SRC = ("element", "v4l2src", "Source/Video", "Video (video4linux2) Source", REGISTRY)
VIDEOCONVERT = ("element", "videoconvert", "Filter/Converter/Video/Colorspace", "Video colorspace converter", REGISTRY)


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
    assert _elements(explanation) == [
        ("element", "udpsrc", "Source/Network", "UDP packet receiver", REGISTRY),
        ("element", "rtph265depay", "Codec/Depayloader/Network/RTP", "RTP H265 depayloader", REGISTRY),
        H265PARSE,
        ("element", "nvv4l2decoder", "Codec/Decoder/Video", "NVIDIA v4l2 video decoder", NVIDIA),
        NVVIDCONV,
        XVIMAGESINK,  # Debian's gstreamer1.0-x, which the setup installs
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


CAPS_ALONE = ("not caps to GStreamer but an element name and a path: caps stand between two '!', and inside quotes "
              "no space may follow a ';'")


PARSE_ERRORS = [  # (line, column, problem, snippet); tests/integration/test_gst_pipelines.py feeds them to GStreamer
    ("gst-launch-1.0 videotestsrc ! ! fakesink", 29, "empty element between two '!'", "! !"),
    ("videotestsrc !", 14, "'!' with nothing after it", "!"),
    ("! fakesink", 1, "'!' with nothing before it", "!"),
    ("videotestsrc =ball ! fakesink", 14, "bad property, expected name=value", "=ball"),
    ("videotestsrc ! 'video/x-raw,width=640 ! fakesink", 16, "unbalanced single quote",
     "'video/x-raw,width=640 ! fakesink"),
    ('udpsrc caps="application/x-rtp ! fakesink', 13, "unbalanced double quote", '"application/x-rtp ! fakesink'),
    ("videotestsrc ! '' ! fakesink", 16, "empty element", "''"),
    ("videotestsrc ! width=640 ! fakesink", 16, "property that follows no element", "width=640"),
    ("videotestsrc -z ! fakesink", 14, "unknown gst-launch-1.0 option", "-z"),
    ("videotestsrc -ez ! fakesink", 14, "unknown gst-launch-1.0 option", "-ez"),
    ("videotestsrc ! fakesink -X", 25, "option without its argument", "-X"),
    ("videotestsrc ! video/x-raw", 16, CAPS_ALONE, "video/x-raw"),
    ("videotestsrc ! 'video/x-raw; video/x-bayer' ! fakesink", 16, CAPS_ALONE, "'video/x-raw; video/x-bayer'"),
    ("videotestsrc ! video/x-raw ! video/x-raw,width=2 ! fakesink", 30, "two caps filters in a row: GStreamer needs "
     "an element between them (identity, say), else it reads the second as an element name and a path",
     "video/x-raw,width=2"),
    ("videotestsrc ! video/x-raw;video/x-bayer ! fakesink", 27,
     "quote ';' (';') or escape it (\\;): unquoted, the shell ends the command there", ";"),
    ("videotestsrc ! ( queue ! fakesink )", 16,
     "quote '(' ('(') or escape it (\\(): unquoted, the shell refuses it as a syntax error", "("),
    ("fakesrc ! fakesink t.", 20, "a reference that nothing links to or from", "t."),
    ("fakesrc .src", 9, "a pad reference ('.pad') that nothing links to", ".src"),
    ("fakesrc ! '(' ')'", 11, "empty bin", "'(' ')'"),
    ("fakesrc ! '(' fakesink", 11, "'(' without a ')' after it", "'('"),
    ("fakesrc ! fakesink ')'", 20, "')' without a '(' before it", "')'"),
    ("fakesrc ! .sink", 11, "a pad ('.pad') with no element after it", ".sink"),
    (".src ! fakesink", 1, "a pad ('.pad') must follow an element", ".src"),
    ("fakesrc , fakesink", 9, "not an element, caps, reference or name=value property", ","),
]


@pytest.mark.parametrize(("line", "column", "problem", "snippet"), PARSE_ERRORS)
def test_parse_errors_point_at_the_piece(line: str, column: int, problem: str, snippet: str) -> None:
    with pytest.raises(UserError) as raised:
        explain_pipeline(line)
    assert str(raised.value) == f"syntax error at column {column}: {problem}: {snippet!r}"


def test_a_bad_caps_field_names_its_piece() -> None:
    with pytest.raises(UserError, match=r"piece 2 at column 16 \('video/x-raw,640'\): caps field without "
                                        r"name=value .*'640'"):
        explain_pipeline("videotestsrc ! video/x-raw,640 ! fakesink")


def test_words_are_split_as_the_shell_splits_them() -> None:
    """`!` is not special to the shell: `!b` is one word, which GStreamer then reads as a link and an element."""
    assert [token.text for token in tokenize("a\\\n  caps='x y'\"!z\" !b # a comment")] == ["a", "caps=x y!z", "!b"]
    assert [token.text for token in tokenize(r'a\ b "c\"d" \'e\' "\$\x"')] == ["a b", 'c"d', "'e'", "$\\x"]


def test_named_elements_references_and_what_a_value_swallows() -> None:
    parsed = parse_pipeline("tee name=t ! queue ! fakesink t. ! queue!fakesink -v -X stats")
    assert [(piece.kind, piece.factory or piece.name) for piece in parsed.pieces] == [
        ("element", "tee"), ("element", "queue"), ("element", "fakesink"), ("reference", "t"),
        ("element", "queue"), ("element", "fakesink")]
    assert parsed.links == ((1, 2), (2, 3), (4, 5), (5, 6))
    assert [(option.flag, option.argument) for option in parsed.options] == [("-v", None), ("-X", "stats")]
    # a value runs to the next space, '!' included, as in GStreamer's lexer: no link to fakesink here
    swallowed = parse_pipeline("queue max-size-buffers=1!fakesink")
    assert [(p.factory, p.text) for p in swallowed.pieces] == [("queue", "queue max-size-buffers=1!fakesink")]
    assert swallowed.piece(1).properties[0].value == "1!fakesink" and swallowed.links == ()
    assert explain_pipeline("queue max-size-buffers=1!fakesink").properties[0].problem == (
        "'1!fakesink' is not a whole number")


def test_what_gst_launch_reads_is_what_we_read() -> None:
    """Lines GStreamer's parser accepts as they are: spaces around '=' (the next word is the value), an element
    name that no factory has, a value in single quotes inside a description (kept, as Gst.parse_launch keeps it)."""
    spaced = parse_pipeline("videotestsrc pattern= ! fakesink")
    assert [(p.factory, [(s.name, s.value) for s in p.properties]) for p in spaced.pieces] == [
        ("videotestsrc", [("pattern", "!")]), ("fakesink", [])]
    assert spaced.links == ()
    assert explain_pipeline("videotestsrc pattern= ! fakesink").properties[0].problem.startswith(
        "'!' is not one of smpte, snow")
    number = explain_pipeline("videotestsrc ! 640 ! fakesink")
    assert (number.elements[1].factory, number.elements[1].source) == ("640", SOURCE_UNKNOWN)
    described = parse_description("filesrc location='a b' ! fakesink name=\"x y\"")
    assert [s.value for p in described.pieces for s in p.properties] == ["'a b'", "x y"]


def test_caps_with_spaces_escapes_and_several_structures() -> None:
    parsed = parse_pipeline("gst-launch-1.0 videotestsrc ! video/x-raw, width=320 , height=240 ! queue ! "
                            "'video/x-raw, format=I420;video/x-bayer' ! queue ! video/x-raw,format=\\(string\\)NV12 "
                            "! fakesink")
    assert [(p.kind, p.text, p.caps) for p in parsed.pieces if p.kind == "caps"] == [
        ("caps", "video/x-raw, width=320 , height=240", "video/x-raw, width=320 , height=240"),
        ("caps", "'video/x-raw, format=I420;video/x-bayer'", "video/x-raw, format=I420;video/x-bayer"),
        ("caps", "video/x-raw,format=\\(string\\)NV12", "video/x-raw,format=(string)NV12")]
    assert parsed.links == ((1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7))
    assert parsed.link_details[0] == Link(1, 3, caps=2)
    assert parsed.description == ("videotestsrc ! video/x-raw, width=320 , height=240 ! queue ! video/x-raw,\\ "
                                  "format=I420;"
                                  "video/x-bayer ! queue ! video/x-raw,format=(string)NV12 ! fakesink ")


def test_pads_bins_uris_presets_and_link_all() -> None:
    parsed = parse_pipeline("gst-launch-1.0 -e filesrc location=a\\ b.mp4 ! qtdemux name=d d.video_0 ! queue ! "
                            "mux.sink_%u,sink_1 d.audio_0 ! .sink fakesink '(' name=b queue ! fakesink ')' "
                            "videotestsrc : b. file:///tmp/x.ts ! 'bin.(' fakesink @preset=Quiet ')' "
                            "mp4mux name=mux .src ! fakesink")
    assert [(p.index, p.kind, p.factory or p.name or p.uri, p.pad, p.parent) for p in parsed.pieces] == [
        (1, "element", "filesrc", "", 0), (2, "element", "qtdemux", "", 0), (3, "reference", "d", "video_0", 0),
        (4, "element", "queue", "", 0), (5, "reference", "mux", "sink_%u,sink_1", 0),
        (6, "reference", "d", "audio_0", 0), (7, "element", "fakesink", "", 0), (8, "bin", "bin", "", 0),
        (9, "element", "queue", "", 8), (10, "element", "fakesink", "", 8), (11, "element", "videotestsrc", "", 0),
        (12, "reference", "b", "", 0), (13, "uri", "file:///tmp/x.ts", "", 0), (14, "bin", "bin", "", 0),
        (15, "element", "fakesink", "", 14), (16, "element", "mp4mux", "", 0), (17, "element", "fakesink", "", 0)]
    assert parsed.piece(1).properties[0].value == "a b.mp4"
    assert parsed.piece(8).text == "'(' name=b queue ! fakesink ')'"
    assert parsed.piece(15).properties[0].name == "@preset"
    assert parsed.link_details == (
        Link(1, 2), Link(3, 4, source_pads=("video_0",)), Link(4, 5, sink_pads=("sink_%u", "sink_1")),
        Link(6, 7, source_pads=("audio_0",), sink_pads=("sink",)),
        Link(9, 10), Link(11, 12, all_pads=True), Link(13, 15), Link(16, 17, source_pads=("src",)))
    assert parsed.has_option("-e")


def test_the_basics_as_printed_field_by_field() -> None:
    show = explain_pipeline(BASICS_SHOW)
    assert _elements(show) == [V4L2SRC, XVIMAGESINK] and show.links == ((1, 2),)
    assert convert_for_display(BASICS_SHOW).converted == (
        "gst-launch-1.0 v4l2src ! nvvidconv ! nvegltransform ! nveglglessink -e")
    assert convert_for_display(BASICS_SHOW, jetpack=5).converted == "gst-launch-1.0 v4l2src ! nvvidconv ! nv3dsink -e"

    effect = explain_pipeline(BASICS_EFFECT)
    assert _elements(effect) == [V4L2SRC, CAPSFILTER, VIDEOCONVERT, (
        "element", "agingtv", "Filter/Effect/Video", "AgingTV effect", REGISTRY), VIDEOCONVERT, XVIMAGESINK]
    assert effect.elements[1].text == "video/x-raw, framerate=30/1"
    assert _properties(effect) == [
        (1, "v4l2src", "device", "/dev/video0", "String", "/dev/video0", "known"),
        (4, "agingtv", "scratch-lines", "10", "Unsigned Integer", "7", "known"),
        (6, "xvimagesink", "sync", "false", "Boolean", "true", "known")]
    assert _caps(effect) == [(2, "caps filter", "video/x-raw", (), (("framerate", "30/1", "fraction"),))]
    assert effect.links == ((1, 2), (2, 3), (3, 4), (4, 5), (5, 6))
    assert all(row.problem == "" for row in effect.properties)
    text = explanation_text(effect)
    assert "4. element agingtv scratch-lines=10\n   Filter/Effect/Video: AgingTV adds age to video input" in text
    assert "   capability (caps filter): video/x-raw; framerate=30/1 (fraction)" in text

    settings = properties_and_capabilities(explain_pipeline(BASICS_PROPERTY_OR_CAPABILITY))
    assert [(s.text, s.kind, s.where) for s in settings] == [
        ("device=/dev/video0", "property", "v4l2src"),
        ("video/x-raw,framerate=30/1", "capability", "the link v4l2src → videoconvert")]
    assert settings[0].meaning == "Device location (String, default /dev/video0)"
    assert settings[1].meaning == "only video/x-raw with framerate=30/1 (fraction) may flow over this link"
    (udpsrc_caps,) = [s for s in properties_and_capabilities(explain_pipeline(RECEIVER)) if s.text.startswith("caps")]
    assert udpsrc_caps.kind == "property holding a capability" and "only application/x-rtp with media=video" in (
        udpsrc_caps.meaning)


class CountingLookup:
    """A fake registry: answers from this machine's, counting the calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, factory: str):
        self.calls.append(factory)
        return inspect_element(factory)


def test_an_explanation_looks_each_factory_up_once_and_at_most_max_lookups() -> None:
    lookup = CountingLookup()
    explain_pipeline("videotestsrc ! queue ! video/x-raw ! queue ! video/x-raw ! queue ! fakesink", lookup)
    assert lookup.calls == ["videotestsrc", "queue", "capsfilter", "fakesink"]
    made_up = " ! ".join(f"made-up-{number}" for number in range(MAX_LOOKUPS + 1))
    with pytest.raises(UserError, match=rf"too many different elements to explain at once: {MAX_LOOKUPS + 1} "
                                        rf"\(at most {MAX_LOOKUPS}\)"):
        explain_pipeline(made_up, lookup)
    assert len(lookup.calls) == 4  # refused before any lookup


def test_a_pipeline_of_300_made_up_names_is_refused_in_one_line_before_any_lookup() -> None:
    lookup = CountingLookup()
    line = "gst-launch-1.0 " + " ! ".join(f"made-up-{number}" for number in range(300))
    with pytest.raises(UserError) as raised:
        explain_pipeline(line, lookup)
    assert str(raised.value) == (f"pipeline too long: more than {MAX_PIECES} elements, caps filters and references "
                                 f"(the {MAX_PIECES + 1}th at column {line.index(f'made-up-{MAX_PIECES}') + 1}); "
                                 "explain it in parts")
    assert lookup.calls == []
    assert main(["streams", "explain", line]) == 2


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
    from core.gst import element_info

    calls = []
    monkeypatch.setattr(element_info.subprocess, "run", lambda *args, **kwargs: calls.append(args) or None)
    for name in ("--gst-plugin-path=/tmp", "-b", "a b", "x" * 65, ""):
        assert element_info.inspect_element(name) is None
    assert calls == []


class FakeInspect:
    """Stands in for subprocess.run of gst-inspect-1.0: lists `installed`, describes each of them, counts the runs
    and, while `gate` is cleared, keeps each run waiting until it is set again (to see how many run at once)."""

    def __init__(self, installed: tuple[str, ...]) -> None:
        self.installed = installed
        self.runs: list[tuple[str, ...]] = []
        self.running = 0
        self.gate = threading.Event()
        self.gate.set()
        self.lock = threading.Lock()

    def __call__(self, arguments: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
        with self.lock:
            self.runs.append(tuple(arguments[1:]))
            self.running += 1
        try:
            self.gate.wait(timeout=120)
            if len(arguments) == 1:
                listing = "".join(f"fakeplugin:  {name}: A fake element\n" for name in self.installed)
                return subprocess.CompletedProcess(arguments, 0, listing, "")
            details = (f"Factory Details:\n  Long-name                Fake {arguments[1]}\n  Klass                    "
                       "Filter\n  Description              Does nothing\n")
            return subprocess.CompletedProcess(arguments, 0, details, "")
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def fake_inspect(monkeypatch) -> FakeInspect:
    from core.gst import element_info

    fake = FakeInspect(("alpha", "beta", "gamma", "delta"))
    monkeypatch.setattr(element_info.subprocess, "run", fake)
    monkeypatch.setattr(element_info.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(element_info, "_remembered", element_info._Remembered(element_info.MAX_REMEMBERED))
    monkeypatch.setattr(element_info, "_listing", None)
    return fake


def test_a_made_up_name_starts_no_gst_inspect_and_a_listed_one_is_inspected_once(fake_inspect) -> None:
    line = " ! ".join(["alpha", "beta", "alpha"] + [f"made-up-{number}" for number in range(20)])
    first = explain_pipeline(line)
    assert [row.long_name for row in first.elements[:3]] == ["Fake alpha", "Fake beta", "Fake alpha"]
    assert first.elements[3].source == SOURCE_UNKNOWN
    assert fake_inspect.runs == [(), ("alpha",), ("beta",)]  # one listing, then only names it lists
    explain_pipeline(line)
    assert len(fake_inspect.runs) == 3  # answers and the listing are remembered


def test_remembered_answers_are_bounded_and_the_listing_is_read_again_when_old(fake_inspect, monkeypatch) -> None:
    from core.gst import element_info

    monkeypatch.setattr(element_info, "_remembered", element_info._Remembered(2))
    for name in ("alpha", "beta", "gamma", "alpha"):
        assert inspect_element(name).long_name == f"Fake {name}"
    assert fake_inspect.runs == [(), ("alpha",), ("beta",), ("gamma",), ("alpha",)] and len(element_info._remembered) == 2
    monkeypatch.setattr(element_info, "FACTORY_LIST_TTL_S", 0.0)
    inspect_element("delta")
    assert fake_inspect.runs[-2:] == [(), ("delta",)]


def test_at_most_max_concurrent_inspections_run_at_once_server_wide(fake_inspect, monkeypatch) -> None:
    from core.gst import element_info

    element_info.installed_factories()  # the listing first, so every thread below wants one inspection
    fake_inspect.gate.clear()
    threads = [threading.Thread(target=inspect_element, args=(name,)) for name in ("alpha", "beta", "gamma")]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: fake_inspect.running == element_info.MAX_CONCURRENT_INSPECTIONS, 30,
                   f"{element_info.MAX_CONCURRENT_INSPECTIONS} inspections running")
        monkeypatch.setattr(element_info, "SLOT_WAIT_S", 0.0)
        with pytest.raises(UserError, match="GStreamer's registry is busy answering other requests"):
            inspect_element("delta")
        assert fake_inspect.running == element_info.MAX_CONCURRENT_INSPECTIONS  # the third thread is still waiting
    finally:
        fake_inspect.gate.set()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(fake_inspect.runs[1:]) == [("alpha",), ("beta",), ("gamma",)]
