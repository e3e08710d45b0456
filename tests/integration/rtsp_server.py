"""A real RTSP server for tests: GStreamer's RTSP server library serving a live test picture on 127.0.0.1.

    python3 rtsp_server.py PORT [h264|h265]      serves rtsp://127.0.0.1:PORT/cam, prints "ready" once listening

It needs GStreamer's Python bindings (python3-gi, gir1.2-gst-rtsp-server-1.0), which import only in the
distribution's own Python, so tests run it as a separate process with that interpreter; it runs until killed.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

ENCODERS = {
    "h264": "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! rtph264pay name=pay0 pt=96",
    "h265": "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! video/x-h265,profile=main "
            "! rtph265pay name=pay0 pt=96",
}


def main() -> None:
    port, codec = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "h264")
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch("( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=15/1 "
                       f"! videoconvert ! video/x-raw,format=I420 ! {ENCODERS[codec]} config-interval=1 )")
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
