"""The configured streams file: defaults, round trip, every validation rule, corrupt files left untouched."""
from __future__ import annotations

import tomllib

import pytest

from core.config import load_settings
from core.errors import UserError
from core.stream.configured import (InvalidStreams, StreamEntry, default_streams, entries_from_rows, load_streams,
                                    read_stream_entries, rtp_port, save_streams, shown_entries, stream_problems,
                                    streams_file, with_hidden_credentials)


@pytest.fixture
def settings(isolated_data_root):
    return load_settings({"EDS_DATA_ROOT": str(isolated_data_root), "EDS_RTP_PORTS": "5000-5003"})


def test_defaults_without_a_file(settings, isolated_data_root) -> None:
    assert not streams_file(settings).exists()
    assert load_streams(settings) == [StreamEntry("Demo stream", "demo:"),
                                      StreamEntry("Jetson (udp/5000)", "rtp://0.0.0.0:5000?codec=auto")]
    assert streams_file(settings) == settings.data_root / "streams.toml"
    elsewhere = load_settings({"EDS_DATA_ROOT": str(isolated_data_root), "EDS_RTP_PORTS": "6000-6001"})
    assert [rtp_port(entry.uri) for entry in default_streams(elsewhere)] == [None, 6000]
    assert not stream_problems(elsewhere, load_streams(elsewhere))


def test_save_and_load_round_trip_with_awkward_text(settings) -> None:
    clip = settings.data_root / "clips" / "yard.mp4"
    entries = [
        StreamEntry('Gate "north" \\ cam', "rtsp://user:p%40ss@192.0.2.7:8554/live?transport=udp&channel=1"),
        StreamEntry("Jetson ünicode ☃", "rtp://0.0.0.0:5001?codec=h264"),
        StreamEntry("  Spaces trimmed  ", f"{clip}?loop=1"),
        StreamEntry("Webcam", "/dev/video2"),
        StreamEntry("Demo", "demo:?fps=15"),
    ]
    save_streams(settings, entries)
    text = streams_file(settings).read_text(encoding="utf-8")
    assert len(tomllib.loads(text)["stream"]) == 5
    loaded = load_streams(settings)
    assert loaded[0] == entries[0] and loaded[1] == entries[1] and loaded[2].name == "Spaces trimmed"
    assert loaded == read_stream_entries(streams_file(settings))
    assert not list(settings.data_root.glob(".streams.toml*"))  # the temporary file is gone


@pytest.mark.parametrize(("entries", "problem"), [
    ([StreamEntry("", "demo:")], "needs a name"),
    ([StreamEntry("a\nb", "demo:")], "one line"),
    ([StreamEntry("x" * 81, "demo:")], "at most 80"),
    ([StreamEntry("A", "demo:"), StreamEntry("A", "demo:?fps=5")], "used twice"),
    ([StreamEntry("A", "rtp://0.0.0.0:6000")], "UDP port 6000 is not one this server may bind"),
    ([StreamEntry("A", "rtp://0.0.0.0:5001"), StreamEntry("B", "rtp://0.0.0.0:5001?codec=h265")],
     "both use UDP port 5001"),
    ([StreamEntry("A", "rtp://0.0.0.0:5001?codec=vp9")], "unknown codec"),
    ([StreamEntry("A", "rtsp://127.0.0.1:0/x")], "1..65535"),
    ([StreamEntry("A", "/etc/passwd")], "outside the configured data roots"),
    ([StreamEntry("A", "/dev/video999")], "/dev/videoN"),
    ([StreamEntry("A", "http://example.invalid/x")], "unsupported source"),
    ([StreamEntry("A", "demo:\x7f")], "control characters"),
    ([StreamEntry(f"S{n}", "demo:") for n in range(33)], "at most 32 streams"),
])
def test_invalid_entries_are_refused_and_nothing_is_written(settings, entries, problem) -> None:
    assert any(problem in line for line in stream_problems(settings, entries))
    with pytest.raises(InvalidStreams, match=problem):
        save_streams(settings, entries)
    assert not streams_file(settings).exists()


def test_every_problem_is_listed_one_line_each(settings) -> None:
    with pytest.raises(InvalidStreams) as caught:
        save_streams(settings, [StreamEntry("", "rtp://0.0.0.0:9"), StreamEntry("B", "demo:?colour=red")])
    assert len(caught.value.problems) == 3
    assert all("\n" not in line for line in caught.value.problems)


def test_credentials_are_not_echoed_in_problems(settings) -> None:
    problems = stream_problems(settings, [StreamEntry("Cam", "rtsp://admin:hunter2@192.0.2.1:99999/x")])
    assert problems and "hunter2" not in " ".join(problems) and "***@" in " ".join(problems)


@pytest.mark.parametrize("text", [
    "[[stream]\nname = 'x'",  # not TOML
    "[[stream]]\nname = 'x'\n",  # no uri
    "[[stream]]\nname = 'x'\nuri = 'demo:'\ncodec = 'h265'\n",  # unknown key
    "[[stream]]\nname = 3\nuri = 'demo:'\n",  # not a string
    "title = 'cams'\n",  # unknown table
    "\xff\xfe",  # not UTF-8
])
def test_a_corrupt_file_is_a_one_line_error_and_kept(settings, text) -> None:
    path = streams_file(settings)
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(UserError) as caught:
        load_streams(settings)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    assert path.read_bytes() == text.encode("latin-1")


def test_a_file_valid_once_but_not_under_the_current_ports_is_refused(settings, isolated_data_root) -> None:
    save_streams(settings, [StreamEntry("Jetson", "rtp://0.0.0.0:5003")])
    narrower = load_settings({"EDS_DATA_ROOT": str(isolated_data_root), "EDS_RTP_PORTS": "5000"})
    with pytest.raises(UserError, match="UDP port 5003"):
        load_streams(narrower)
    assert read_stream_entries(streams_file(narrower)) == [StreamEntry("Jetson", "rtp://0.0.0.0:5003")]


def test_hidden_credentials_are_kept_when_the_shown_uri_is_saved_back(settings) -> None:
    saved = [StreamEntry("Gate", "rtsp://admin:hunter2@192.0.2.1/live"), StreamEntry("Demo", "demo:")]
    shown = shown_entries(saved)
    assert shown[0].uri == "rtsp://***@192.0.2.1/live" and shown[1] == saved[1]
    edited = [StreamEntry("Gate (renamed)", shown[0].uri), StreamEntry("Yard", "rtsp://***@192.0.2.2/live")]
    assert with_hidden_credentials(edited, saved) == [StreamEntry("Gate (renamed)", saved[0].uri), edited[1]]


def test_edited_rows_become_entries_and_empty_rows_go() -> None:
    rows = [{"name": " Cam ", "uri": "rtsp://cam/x "}, {"name": None, "uri": None}, {"name": "", "uri": "  "},
            {"name": "No URI", "uri": None}]
    assert entries_from_rows(rows) == [StreamEntry("Cam", "rtsp://cam/x"), StreamEntry("No URI", "")]
