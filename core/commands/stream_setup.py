"""`python -m core streams ...`: setting up a camera's stream, with the Streams page's tools from the command line: the
Jetson's sender command for this server, explaining or converting any gst-launch-1.0 pipeline, the configured streams
and what arrives on their ports."""
from __future__ import annotations

import argparse
import json

from core.gst.jetson_sender import CODECS, JETPACKS, PRESETS, SEED_PRESET

DEFAULT_PRESET = SEED_PRESET


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("streams", help="camera streams: the Jetson's sender command, explain or convert "
                                                   "a gst-launch-1.0 pipeline")
    actions = parser.add_subparsers(dest="streams_command", required=True, metavar="ACTION")
    _register_sender_command(actions)
    _register_explain(actions)
    _register_convert(actions)
    _register_list(actions)
    _register_listen(actions)


def _register_sender_command(actions: argparse._SubParsersAction) -> None:
    presets = "\n".join(f"  {name}: {preset.description}" for name, preset in PRESETS.items())
    parser = actions.add_parser(
        "sender-command", help="the gst-launch-1.0 command to run on the Jetson, filled in for this server",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"Presets (options given on the command line override the preset's):\n{presets}")
    parser.add_argument("--preset", default=DEFAULT_PRESET, choices=list(PRESETS),
                        help=f"starting point (default {DEFAULT_PRESET}: the original sender command, unchanged)")
    parser.add_argument("--host", help="this server's address as the Jetson reaches it (default: its first LAN "
                                       "IPv4 address)")
    parser.add_argument("--port", type=int, help="UDP port this server listens on (preset: 5000)")
    parser.add_argument("--codec", choices=CODECS)
    parser.add_argument("--width", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--fps", type=int, help="frames per second")
    parser.add_argument("--bitrate", type=int, help="bits per second, e.g. 4000000")
    parser.add_argument("--keyframe-interval", type=int, help="frames between keyframes (a late viewer's wait)")
    parser.add_argument("--camera", help="/dev/videoN (USB, v4l2src) or csi / csi:N (CSI sensor N, "
                                         "nvarguscamerasrc)")
    parser.add_argument("--jetpack", type=int, choices=JETPACKS, help="4 (omx encoders) or 5 (5.x and later, "
                                                                      "nvv4l2 encoders)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (command, options, addresses)")
    parser.set_defaults(func=run_sender_command)


def _register_explain(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser("explain", help="explain each element, property and caps filter of a pipeline")
    parser.add_argument("pipeline", help="a gst-launch-1.0 line, quoted as one argument")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run_explain)


def _register_convert(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser("convert", help="replace a pipeline's display sink (xvimagesink, ximagesink, "
                                                "autovideosink) with NVIDIA's")
    parser.add_argument("pipeline", help="a gst-launch-1.0 line, quoted as one argument")
    parser.add_argument("--jetpack", type=int, choices=JETPACKS, default=4,
                        help="4: nvegltransform ! nveglglessink (default); 5: nv3dsink (5.x and later)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run_convert)


def run_sender_command(args: argparse.Namespace) -> int:
    from core.gst.addresses import server_ipv4_addresses
    from core.gst.jetson_sender import preset_options, sender_command

    addresses = server_ipv4_addresses()
    host = args.host or addresses[0].address
    options = preset_options(args.preset, host, port=args.port, codec=args.codec, width=args.width,
                             height=args.height, fps=args.fps, bitrate=args.bitrate,
                             keyframe_interval=args.keyframe_interval, camera=args.camera, jetpack=args.jetpack)
    command = sender_command(options)
    if args.json:
        print(json.dumps({"command": command, "preset": args.preset, "options": options.as_dict(),
                          "addresses": [entry.address for entry in addresses]}))
    else:
        print(command)
    return 0


def run_explain(args: argparse.Namespace) -> int:
    from core.gst.explain import explain_pipeline, explanation_text

    explanation = explain_pipeline(args.pipeline)
    print(json.dumps(explanation.as_dict()) if args.json else explanation_text(explanation))
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from core.gst.convert import convert_for_display

    conversion = convert_for_display(args.pipeline, args.jetpack)
    if args.json:
        print(json.dumps(conversion.as_dict()))
        return 0
    print(conversion.converted)
    for change in conversion.changes:
        before = change.before or "(nothing)"
        after = change.after or "(removed)"
        print(f"  {before} -> {after}: {change.why}")
    return 0


def _register_list(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser("list", help="the configured streams (DATA_ROOT/streams.toml; the Streams page "
                                             "edits them)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run_list)


def _register_listen(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser("listen", help="what arrives on each configured RTP port: sender, SSRC, payload "
                                               "type, codec, resolution, packets/s, loss (exit 1: nothing on a port)")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to listen (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run_listen)


def run_list(args: argparse.Namespace) -> int:
    from core.config import load_settings
    from core.stream.configured import load_streams, stream_port, streams_file
    from core.stream.shown_uri import display_uri

    settings = load_settings()
    streams = [{"name": entry.name, "uri": display_uri(entry.uri), "udp_port": stream_port(settings, entry.uri)}
               for entry in load_streams(settings)]
    if args.json:
        print(json.dumps({"file": str(streams_file(settings)), "streams": streams}))
    for stream in [] if args.json else streams:
        print(f"{stream['name']}: {stream['uri']}")
    return 0


def run_listen(args: argparse.Namespace) -> int:
    from functools import partial

    from core.config import load_settings
    from core.errors import UserError
    from core.stream.configured import load_streams
    from core.stream.listen_report import arrivals_text, listen
    from core.stream.sources import SourcePolicy, open_source

    if not 0 < args.seconds <= 3600:
        raise UserError(f"--seconds must be between 0 and 3600, not {args.seconds:g}")
    settings = load_settings()
    rows = listen(load_streams(settings), args.seconds,
                  open_frames=partial(open_source, policy=SourcePolicy.from_settings(settings)))
    if not rows:
        raise UserError("no RTP stream is configured (add one on the Streams page: rtp://0.0.0.0:PORT)")
    print(json.dumps({"seconds": args.seconds, "streams": [row.as_dict() for row in rows]}) if args.json
          else arrivals_text(rows))
    return 0 if all(row.arriving for row in rows) else 1
