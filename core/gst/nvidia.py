"""Facts about NVIDIA's Jetson-only GStreamer elements, for explaining pipelines on a machine that lacks them.

Written from NVIDIA's "Accelerated GStreamer" guide (JetPack 4.x-6.x) and the encoders' open-source GStreamer plugin
sources (gst-omx for Tegra, gst-v4l2 for Tegra), which set these property names, types and defaults:
- omxh265enc/omxh264enc (JetPack 4 only): bitrate (uint, 4000000 bit/s), iframeinterval (uint, 60 frames),
  insert-vui and insert-sps-pps (boolean, false).
- nvv4l2h265enc/nvv4l2h264enc (JetPack 4.x and later): bitrate (uint, 4000000), iframeinterval (uint, 30),
  idrinterval (uint, 256), insert-sps-pps and insert-vui (boolean, false).
The class strings use GStreamer's Klass vocabulary for each element's role; on a Jetson, this machine's own registry
(gst-inspect-1.0) answers first and these facts are not used. Only the properties our presets and example
pipelines use are listed: any other property of these elements is reported as not covered, not invented.
"""
from __future__ import annotations

from core.gst.element_info import ElementInfo, PropertyInfo

SOURCE_NVIDIA = "NVIDIA accelerated GStreamer guide"
UINT_RANGE = "0 - 4294967295"


def _uint(name: str, description: str, default: int) -> PropertyInfo:
    return PropertyInfo(name, description, "Unsigned Integer", str(default), UINT_RANGE)


def _boolean(name: str, description: str, default: bool = False) -> PropertyInfo:
    return PropertyInfo(name, description, "Boolean", "true" if default else "false")


def _element(factory: str, long_name: str, klass: str, description: str, *properties: PropertyInfo) -> ElementInfo:
    return ElementInfo(factory, long_name, klass, description, SOURCE_NVIDIA, {p.name: p for p in properties})


def _omx_encoder(codec: str) -> ElementInfo:
    return _element(
        f"omx{codec.lower().replace('.', '')}enc", f"OpenMAX {codec} Video Encoder", "Codec/Encoder/Video",
        f"Encodes {codec} video on the Jetson's hardware encoder through OpenMAX (JetPack 4 only; removed in 5)",
        _uint("bitrate", "Target bitrate in bits per second", 4_000_000),
        _uint("iframeinterval", "Encoding Intra Frame occurrence frequency (frames between I-frames)", 60),
        _boolean("insert-vui", f"Insert {codec} VUI (Video Usability Information: timing, colour) in the SPS"),
        _boolean("insert-sps-pps", f"Insert {codec} SPS, PPS at every IDR frame"),
    )


def _v4l2_encoder(codec: str) -> ElementInfo:
    return _element(
        f"nvv4l2{codec.lower().replace('.', '')}enc", f"V4L2 {codec} Encoder", "Codec/Encoder/Video",
        f"Encodes {codec} video on the Jetson's hardware encoder through the V4L2 API (JetPack 4.x and later)",
        _uint("bitrate", "Set bitrate for v4l2 encode, in bits per second", 4_000_000),
        _uint("iframeinterval", "Encoding Intra Frame occurrence frequency (frames between I-frames)", 30),
        _uint("idrinterval", "Encoding IDR Frame occurrence frequency (frames between IDR frames)", 256),
        _boolean("insert-sps-pps", f"Insert {codec} SPS, PPS at every IDR frame"),
        _boolean("insert-vui", f"Insert {codec} VUI (Video Usability Information) in the SPS"),
    )


NVIDIA_ELEMENTS: dict[str, ElementInfo] = {info.factory: info for info in (
    _element("nvvidconv", "NvVidConv Plugin", "Filter/Converter/Video/Scaler",
             "Converts colour format and scales on the Jetson's hardware (VIC), between system memory and NVMM "
             "buffers (memory:NVMM)",
             PropertyInfo("flip-method", "Video flip methods", 'Enum "GstNvVideoFlipMethod"', "none (0)",
                          choices=("none", "counterclockwise", "rotate-180", "clockwise", "horizontal-flip",
                                   "upper-right-diagonal", "vertical-flip", "upper-left-diagonal"))),
    _omx_encoder("H.265"),
    _omx_encoder("H.264"),
    _v4l2_encoder("H.265"),
    _v4l2_encoder("H.264"),
    _element("nvv4l2decoder", "NVIDIA v4l2 video decoder", "Codec/Decoder/Video",
             "Decodes H.264/H.265 (and more) on the Jetson's hardware decoder (NVDEC) into NVMM buffers",
             _boolean("enable-max-performance", "Set to enable max performance"),
             _uint("drop-frame-interval", "Interval to drop frames: 5 keeps every 5th frame, 0 keeps all", 0)),
    _element("nvegltransform", "EGL Transform", "Filter/Converter/Video",
             "Turns NVMM buffers into EGLImages for nveglglessink (JetPack 4 display path)"),
    _element("nveglglessink", "EGL/GLES vout Sink", "Sink/Video",
             "Shows video in a window with EGL/OpenGL ES; fed by nvegltransform on JetPack 4"),
    _element("nv3dsink", "Nvidia 3D sink", "Sink/Video",
             "Shows NVMM video in a window with 3D graphics rendering (the display sink of JetPack 5 and later)"),
    _element("nvarguscamerasrc", "NvArgusCameraSrc", "Source/Video",
             "Captures from a CSI camera through the Jetson's ISP (libargus); outputs NV12 in NVMM buffers",
             PropertyInfo("sensor-id", "Set the id of camera sensor to use", "Integer", "0", "0 - 255"),
             PropertyInfo("num-buffers", "Number of buffers to output before sending EOS (-1 = unlimited)",
                          "Integer", "-1", "-1 - 2147483647")),
)}
