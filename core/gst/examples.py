"""The seed's three kinds of pipeline, as starting points on the Streams page: the Jetson's sender, a receiver that
decodes on the Jetson and shows the video in an X11 window, and a CSI camera shown with NVIDIA's display sink."""
from __future__ import annotations

SENDER = ("gst-launch-1.0 v4l2src ! video/x-raw,framerate=30/1,width=640,height=480 ! nvvidconv ! omxh265enc "
          "insert-vui=1 ! h265parse ! rtph265pay config-interval=1 ! udpsink host=HOST port=5000 sync=false -e")
RECEIVER = ('gst-launch-1.0 udpsrc port=5000 caps="application/x-rtp,media=video,encoding-name=H265,payload=96" '
            "! rtph265depay ! h265parse ! nvv4l2decoder ! nvvidconv ! xvimagesink")
DISPLAY = ("gst-launch-1.0 nvarguscamerasrc ! 'video/x-raw(memory:NVMM),width=1920,height=1080,framerate=30/1' "
           "! nvvidconv ! nvegltransform ! nveglglessink -e")
EXAMPLES = {"Jetson sender (the seed's)": SENDER, "Receiver on the Jetson, X11 window": RECEIVER,
            "CSI camera on the Jetson's display": DISPLAY}
