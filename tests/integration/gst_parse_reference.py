"""What GStreamer itself makes of pipeline descriptions, for comparing our parser with it.

    python3 gst_parse_reference.py < cases.json > answers.json

It needs GStreamer's Python bindings (python3-gi, gir1.2-gstreamer-1.0), which import only in the distribution's own
Python, so tests run it as a separate process with that interpreter. Each case is {"arguments": [...]} (the words
gst-launch-1.0 hands to `gst_parse_launchv`) or {"description": text} (for `gst_parse_launch`), with
"properties": [[key, factory, name, value], ...] and "caps": [text, ...] to interpret as GStreamer would. Each
answer holds:
- "description": the text GStreamer parsed and "tokens": its lexer's tokens ([kind, text] from the GST_PIPELINE
  debug log, spaces left out);
- "error": the parse error, if any (a missing element is one; the tokens are still there);
- "bins": {bin name: [[factory, name], ...]} the elements of each bin in the order they were added ("" is the
  pipeline itself), "all": {element name: {property: value}} every readable property, "properties": the same
  for the properties whose value differs from a fresh element of the same factory;
- "expected": {key: value} for each requested property, the value a fresh element gets from that text (null when
  the factory or property does not exist here); "caps": each requested caps text as GStreamer reads it back;
- "links": [[source name, sink name, caps or null, source pads named, sink pads named], ...] from the log.
"""
import json
import re
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, GObject, Gst  # noqa: E402

FLEX = re.compile(r"flex: (?P<kind>[A-Za-z ]+?): (?P<text>.*)$", re.DOTALL)
LINKING = re.compile(r'linking (?:some pad|pad .*?) of \S+ named (?P<source>.*?) to (?:some pad|pad .*?) of \S+ '
                     r'named (?P<sink>.*?) \((?P<source_pads>\d+)/(?P<sink_pads>\d+)\) with caps "(?P<caps>.*)"$')
DESCRIPTION = re.compile(r"parsing pipeline description '(?P<text>.*)'$", re.DOTALL)
SKIPPED_PROPERTIES = ("name", "parent", "stats", "last-sample")
UNREADABLE = "(not readable from Python)"
messages = []


def log(category, level, file, function, line, source, message, *user_data):
    if category.get_name() == "GST_PIPELINE":
        messages.append(message.get())


def shown(value):
    if isinstance(value, (Gst.Caps, Gst.Structure)):
        return value.to_string()
    if isinstance(value, (GObject.GEnum, GObject.GFlags)):
        return int(value)
    if isinstance(value, GObject.Object) or value is None:
        return None if value is None else type(value).__name__
    return str(value)


def value_of(element, name):
    try:
        return shown(element.get_property(name))
    except TypeError:  # a type the bindings cannot hand to Python (GstValueArray): not comparable here
        return UNREADABLE


def readable(element):
    return {spec.name: value_of(element, spec.name) for spec in element.list_properties()
            if spec.name not in SKIPPED_PROPERTIES and spec.flags & GObject.ParamFlags.READABLE}


def describe(element, bins, properties, every):
    """Record `element` (and, for a bin, its children) in `properties` and `every`."""
    every[element.get_name()] = readable(element)
    fresh = readable(Gst.ElementFactory.make(element.get_factory().get_name(), None))
    properties[element.get_name()] = {name: value for name, value in every[element.get_name()].items()
                                      if value != fresh.get(name)}
    if isinstance(element, Gst.Bin):
        bins[element.get_name()] = []
        for child in reversed(element.children):
            bins[element.get_name()].append([child.get_factory().get_name(), child.get_name()])
            describe(child, bins, properties, every)


def expected_value(factory, name, value):
    fresh = Gst.ElementFactory.make(factory, None)
    if fresh is None or fresh.find_property(name) is None:
        return None
    Gst.util_set_object_arg(fresh, name, value)
    return value_of(fresh, name)


def answer(case):
    messages.clear()
    error, top = None, None
    try:
        top = Gst.parse_launch(case["description"]) if "description" in case else Gst.parse_launchv(case["arguments"])
    except GLib.Error as failure:
        error = failure.message
    tokens, links, description = [], [], None
    for message in messages:
        if (match := DESCRIPTION.match(message)) and description is None:
            description = match["text"]
        elif (match := FLEX.match(message)) and match["kind"] not in ("SPACE", "COMMENT"):
            tokens.append([match["kind"], match["text"]])
        elif match := LINKING.match(message):
            links.append([match["source"], match["sink"], None if match["caps"] == "(NULL)" else match["caps"],
                          int(match["source_pads"]), int(match["sink_pads"])])
    bins, properties, every = {}, {}, {}
    if top is not None and error is None:
        if isinstance(top, Gst.Pipeline):
            bins[""] = [[child.get_factory().get_name(), child.get_name()] for child in reversed(top.children)]
            for child in reversed(top.children):
                describe(child, bins, properties, every)
        else:  # a description of one element (or one bin) is that element, not a pipeline
            bins[""] = [[top.get_factory().get_name(), top.get_name()]]
            describe(top, bins, properties, every)
    expected = {key: expected_value(factory, name, value) for key, factory, name, value in case.get("properties", [])}
    caps = [None if (read := Gst.Caps.from_string(text)) is None else read.to_string()
            for text in case.get("caps", [])]
    return {"description": description, "tokens": tokens, "error": error, "bins": bins, "all": every,
            "properties": properties, "expected": expected, "caps": caps, "links": links}


def main():
    Gst.init(None)
    Gst.debug_remove_log_function(None)
    Gst.debug_add_log_function(log, None)
    Gst.debug_set_active(True)
    Gst.debug_set_threshold_for_name("GST_PIPELINE", Gst.DebugLevel.DEBUG)
    json.dump([answer(case) for case in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    main()
