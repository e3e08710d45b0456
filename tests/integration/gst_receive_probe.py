"""Builds a receive pipeline with core.gst.receive and GStreamer's Python bindings, and reports what its appsink got.

    python3 gst_receive_probe.py PORT 'PIPELINE' [SAMPLES]

Checks PIPELINE (the udpsrc must bind PORT), builds it element by element with GStreamer's parser switched off,
prints "ready" once it plays, then one JSON line: the samples pulled (up to SAMPLES, default 30, or until 5 s pass
without one), the last one's format and size, and the factories the pipeline holds. A refused pipeline prints the
one-line error and exits 2. It needs the bindings, which import only in the distribution's own Python, so tests run
it as a separate process with that interpreter (core.gst.receive needs nothing else).
"""
import json
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

from core.errors import UserError  # noqa: E402
from core.gst.receive import build_receive_pipeline, check_receive_pipeline  # noqa: E402

PULL_TIMEOUT_NS = 5_000_000_000


def _no_parser(*_arguments):
    raise AssertionError("the receive pipeline must not go through GStreamer's parser")


def main() -> None:
    port, text = int(sys.argv[1]), sys.argv[2]
    wanted = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    Gst.init(None)
    Gst.parse_launch = Gst.parse_bin_from_description = _no_parser
    try:
        pipeline, sink = build_receive_pipeline(Gst, check_receive_pipeline(text, udp_ports=[port]))
    except UserError as error:
        print(f"error: {error}", flush=True)
        sys.exit(2)
    factories = [element.get_factory().get_name() for element in pipeline.children]
    pipeline.set_state(Gst.State.PLAYING)
    print("ready", flush=True)
    samples, last = 0, None
    while samples < wanted:
        sample = sink.emit("try-pull-sample", PULL_TIMEOUT_NS)
        if sample is None:
            break
        structure = sample.get_caps().get_structure(0)
        samples, last = samples + 1, [structure.get_value(key) for key in ("format", "width", "height")]
    pipeline.set_state(Gst.State.NULL)
    print(json.dumps({"samples": samples, "last": last, "factories": sorted(factories)}), flush=True)


if __name__ == "__main__":
    main()
