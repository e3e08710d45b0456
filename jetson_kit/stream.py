"""`stream`: this Jetson's camera -> H.265 RTP sender to the server, the command the server's Streams page builds.

The pipeline text is not made here: `jetson pack` writes the server's sender command (core.gst.jetson_sender, with an
IDR interval and parameter sets before every IDR on JetPack 5 and later) into the manifest, one for JetPack 4 (OMX
encoders) and one for 5 and later. This program picks the one for its L4T release and may only swap the server's
address (`host=`) and port (`port=`) tokens. Python 3.6 and later; standard library only.
"""
import shlex
import signal
import subprocess

from jetson_kit import device
from jetson_kit.errors import KitError


def sender_arguments(manifest, jetpack, host=None, port=None):
    """The gst-launch-1.0 argument list for JetPack `jetpack` (4, or 5 for 5.x and later)."""
    senders = manifest.get("sender") or {}
    entry = senders.get(str(jetpack))
    if entry is None:
        raise KitError("the bundle has no sender command for JetPack {} (it has {})".format(
            jetpack, ", ".join(sorted(senders)) or "none"))
    arguments = shlex.split(entry["command"])
    swaps = {}
    if host:
        swaps["host={}".format(entry["host"])] = "host={}".format(host)
    if port:
        swaps["port={}".format(entry["port"])] = "port={}".format(int(port))
    for old, new in swaps.items():
        if arguments.count(old) != 1:
            raise KitError("the sender command has no single `{}` to replace".format(old))
        arguments[arguments.index(old)] = new
    return arguments


def stream(manifest, jetpack=None, host=None, port=None, seconds=0, dry_run=False):
    if jetpack is None:
        jetpack = device.jetpack_major(device.l4t_release())
        if jetpack is None:
            raise KitError("cannot tell the JetPack release (no /etc/nv_tegra_release): give --jetpack 4 or 5")
    arguments = sender_arguments(manifest, jetpack, host, port)
    print(" ".join(shlex.quote(argument) for argument in arguments))
    if dry_run:
        return 0
    try:
        process = subprocess.Popen(arguments, stdin=subprocess.DEVNULL)
    except OSError as error:
        raise KitError("cannot run {}: {} (GStreamer's tools are part of JetPack)".format(arguments[0], error))
    try:
        if seconds:
            try:
                return process.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGINT)  # -e: the pipeline sends end-of-stream and closes cleanly
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        return process.wait()
