"""Turn a pipeline's display sink into NVIDIA's, as GStreamer basics 1 asks: `xvimagesink`, `ximagesink` or
`autovideosink` becomes `nvvidconv ! nvegltransform ! nveglglessink` on JetPack 4, or `nv3dsink` (after `nvvidconv`)
on JetPack 5 and later, and `-e` is added so Ctrl-C ends the stream cleanly. Only the sink's own text changes;
the rest of the line stays exactly as written.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from core.errors import UserError
from core.gst.syntax import ParsedPipeline, Piece, parse_pipeline

DISPLAY_SINKS = ("xvimagesink", "ximagesink", "autovideosink")
# Properties every sink has (GstBaseSink and GstObject): they mean the same on NVIDIA's sinks, so they are kept.
BASE_SINK_PROPERTIES = ("name", "sync", "async", "qos", "max-lateness", "ts-offset", "render-delay",
                        "throttle-time", "max-bitrate", "processing-deadline", "enable-last-sample", "blocksize")
NVIDIA_DISPLAY = {4: ("nvegltransform", "nveglglessink"), 5: ("nv3dsink",)}
WHY_SINK = {
    4: "on a Jetson, video decoded by nvv4l2decoder or captured by nvarguscamerasrc lives in NVMM (hardware) "
       "buffers; nveglglessink draws them with EGL/OpenGL ES, and nvegltransform first turns NVMM buffers into the "
       "EGLImages it needs (the JetPack 4 display path, as in NVIDIA's accelerated GStreamer guide); {old} draws "
       "system-memory frames through X11 and would need a copy out of NVMM for every frame",
    5: "on JetPack 5 and later nv3dsink draws NVMM buffers directly (nvegltransform and nveglglessink are "
       "deprecated there); {old} draws system-memory frames through X11 and would need a copy out of NVMM for "
       "every frame",
}
WHY_NVVIDCONV = "nvvidconv moves frames into NVMM buffers (and converts their format) for the NVIDIA sink"
WHY_EOS = ("-e sends end-of-stream on Ctrl-C, so the pipeline shuts down cleanly and the EGL window closes, as in "
           "NVIDIA's examples")


@dataclass(frozen=True)
class Change:
    before: str
    after: str
    why: str


@dataclass(frozen=True)
class Conversion:
    original: str
    converted: str
    jetpack: int
    changes: tuple[Change, ...]

    def as_dict(self) -> dict:
        return asdict(self)


def _replacement(parsed: ParsedPipeline, sink: Piece, jetpack: int) -> tuple[str, list[Change]]:
    kept = [setting for setting in sink.properties if setting.name in BASE_SINK_PROPERTIES]
    dropped = [setting for setting in sink.properties if setting.name not in BASE_SINK_PROPERTIES]
    chain = list(NVIDIA_DISPLAY[jetpack])
    changes = []
    upstream = parsed.upstream_of(sink.index)
    if upstream is None or upstream.factory != "nvvidconv":
        chain.insert(0, "nvvidconv")
    last = chain[-1] + "".join(f" {parsed.text[s.start:s.end]}" for s in kept)
    replacement = " ! ".join(chain[:-1] + [last])
    changes.append(Change(sink.text, replacement, WHY_SINK[jetpack].format(old=sink.factory)
                          + ("; " + WHY_NVVIDCONV if chain[0] == "nvvidconv" else "")))
    for setting in dropped:
        changes.append(Change(parsed.text[setting.start:setting.end], "",
                              f"{setting.name} is a property of {sink.factory}, not of every sink; "
                              f"{chain[-1]} may not have it"))
    return replacement, changes


def convert_for_display(text: str, jetpack: int = 4) -> Conversion:
    """The pipeline with each display sink replaced by NVIDIA's for `jetpack` (4, or 5 for 5.x and later)."""
    if jetpack not in NVIDIA_DISPLAY:
        raise UserError(f"JetPack release must be 4 or 5 (5 covers 5.x and later), not {jetpack!r}")
    parsed = parse_pipeline(text)
    sinks = [piece for piece in parsed.pieces if piece.kind == "element" and piece.factory in DISPLAY_SINKS]
    if not sinks:
        raise UserError(f"no display sink to convert: expected one of {', '.join(DISPLAY_SINKS)}")
    converted, changes, offset = text, [], 0
    for sink in sinks:
        replacement, sink_changes = _replacement(parsed, sink, jetpack)
        converted = converted[:sink.start + offset] + replacement + converted[sink.end + offset:]
        offset += len(replacement) - (sink.end - sink.start)
        changes += sink_changes
    if not parsed.has_option("-e", "--eos-on-shutdown"):
        converted = converted.rstrip() + " -e"
        changes.append(Change("", "-e", WHY_EOS))
    return Conversion(text, converted, jetpack, tuple(changes))
