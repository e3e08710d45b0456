"""Cameras for the benchmarks without FFmpeg's command-line tool: one process replays a clip, encoded once as our
sender encodes it, as RTP to many UDP ports on 127.0.0.1 at its frame rate, looped.

    python -m benchmarks.rtp_replay --units CLIP.units --ports 5000,5001 --seconds 30 [--fps 30]

The clip's access units are written once by `write_units` (4-byte big-endian length, then the unit, per frame).

Each port is a camera of its own: its own packetizer (SSRC, sequence numbers), timestamps from the send time, the
parameter sets before every keyframe, as `core send` and a Jetson send them. Only the encoding is shared, so N
cameras cost N packetizings, not N encodings (like N `ffmpeg -c copy` replays of one clip).
"""
from __future__ import annotations

import argparse
import socket
import time
from pathlib import Path

from core.stream.nal import FORMATS, split_annexb
from core.stream.payload import CLOCK_RATE, RtpPacketizer


def demo_units(width: int, height: int, fps: float, frames: int) -> list[tuple[bytes, bool]]:
    """The demo scene's first `frames` frames as H.265 access units (imported here: a replayer needs no encoder)."""
    from core.stream.demo import draw_demo_frame
    from core.stream.sender import encode_access_units

    return encode_access_units((draw_demo_frame(index, width, height)[0] for index in range(frames)), "h265", fps=fps)


def write_units(path: Path, units: list[tuple[bytes, bool]]) -> Path:
    path.write_bytes(b"".join(len(data).to_bytes(4, "big") + data for data, _ in units))
    return path


def read_units(path: Path) -> list[bytes]:
    blob, units, offset = path.read_bytes(), [], 0
    while offset < len(blob):
        size = int.from_bytes(blob[offset:offset + 4], "big")
        units.append(blob[offset + 4:offset + 4 + size])
        offset += 4 + size
    return units


def replay(units: list[bytes], ports: list[int], *, fps: float, seconds: float) -> int:
    """Send `units` round and round to every port for `seconds`, each frame at its due time; returns frames sent."""
    packetizers = [RtpPacketizer(FORMATS["h265"]) for _ in ports]
    nals = [split_annexb(data) for data in units]
    started = time.monotonic()
    frame = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        while (due := started + frame / fps) < started + seconds:
            time.sleep(max(0.0, due - time.monotonic()))
            timestamp = int((time.monotonic() - started) * CLOCK_RATE) & 0xFFFFFFFF
            for port, packetizer in zip(ports, packetizers):
                for packet in packetizer.packetize(nals[frame % len(nals)], timestamp):
                    try:
                        sender.sendto(packet.to_bytes(), ("127.0.0.1", port))
                    except OSError:  # nobody listening yet (ICMP port unreachable): a camera keeps sending
                        pass
            frame += 1
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=Path, required=True, help="the clip, as `write_units` wrote it")
    parser.add_argument("--ports", required=True, help="UDP ports on 127.0.0.1, comma separated")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--fps", type=float, default=30.0)
    args = parser.parse_args()
    replay(read_units(args.units), [int(port) for port in args.ports.split(",")], fps=args.fps, seconds=args.seconds)


if __name__ == "__main__":
    main()
