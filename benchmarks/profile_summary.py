"""Summarize a py-spy profile in its raw (collapsed-stack) format: samples per process, and per process the frames
that hold the most samples, inclusive (the frame or anything it calls) and by themselves (the innermost frame).

    py-spy record --subprocesses --format raw -r 50 -d 12 -p PID -o profile.txt
    python -m benchmarks.profile_summary profile.txt [--top 12] > profile.md
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

PROCESS_FRAME = re.compile(r'^process \d+:"(.*)"$')
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]*?)(?::\d+)?\)$")


def _process_name(frame: str) -> str:
    match = PROCESS_FRAME.match(frame)
    command = match.group(1) if match else frame
    return re.sub(r"\S*/", "", command)[:80]  # program names without their folders


def _short(frame: str) -> str:
    match = FRAME.match(frame)
    return f"{match.group('function')} ({Path(match.group('file')).name})" if match else frame


def summarize(lines: list[str]) -> tuple[Counter, dict[str, Counter], dict[str, Counter]]:
    """Samples per process, and per process the inclusive and self samples of each frame."""
    per_process: Counter = Counter()
    inclusive: dict[str, Counter] = defaultdict(Counter)
    own: dict[str, Counter] = defaultdict(Counter)
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        processes = [index for index, frame in enumerate(frames) if frame.startswith("process ")]
        name = _process_name(frames[processes[-1]]) if processes else "?"
        body = [_short(frame) for frame in frames[(processes[-1] + 1 if processes else 0):]]
        body = body[1:] if len(body) > 1 else body  # the thread's own frame
        per_process[name] += int(count)
        for frame in set(body):
            inclusive[name][frame] += int(count)
        if body:
            own[name][body[-1]] += int(count)
    return per_process, inclusive, own


def markdown(per_process: Counter, inclusive: dict[str, Counter], own: dict[str, Counter], top: int) -> str:
    total = sum(per_process.values()) or 1
    out = [f"{total} samples in all"]
    for name, samples in per_process.most_common():
        out += ["", f"### `{name}`: {samples} samples ({100 * samples / total:.0f} %)", "",
                "| inclusive | self | frame |", "|---:|---:|---|"]
        frames = [frame for frame, _ in inclusive[name].most_common(top)]
        frames += [frame for frame, _ in own[name].most_common(top) if frame not in frames]
        for frame in frames:
            out.append(f"| {100 * inclusive[name][frame] / samples:.1f} % | {100 * own[name][frame] / samples:.1f} % "
                       f"| `{frame}` |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    print(markdown(*summarize(args.profile.read_text().splitlines()), args.top), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
