"""Settings from the environment: port ranges, limits, the auth switch and the Triton server address are
validated at the boundary."""
from __future__ import annotations

import pytest

from core.config import DEFAULT_RTP_PORTS, DEFAULT_TRITON_URL, load_settings, parse_ports
from core.errors import UserError


def test_ports_parse_ranges_and_lists_sorted_and_unique() -> None:
    assert parse_ports("5002,5000-5001, 5001") == (5000, 5001, 5002)
    assert load_settings({}).rtp_ports == DEFAULT_RTP_PORTS == tuple(range(5000, 5010))


@pytest.mark.parametrize("text", ["", "80", "5000-4000", "5000-70000", "five", "5000-x"])
def test_bad_port_text_is_a_one_line_error(text: str) -> None:
    with pytest.raises(UserError) as error:
        parse_ports(text)
    assert "\n" not in str(error.value)


def test_limits_and_auth_switch_come_from_the_environment() -> None:
    settings = load_settings({"EDS_MAX_PIPELINES": "2", "EDS_MAX_UPLOAD_PIXELS": "1000", "EDS_AUTH": "OFF",
                              "EDS_RTP_PORTS": "6000-6001"})
    assert (settings.max_pipelines, settings.max_upload_pixels, settings.auth_enabled) == (2, 1000, False)
    assert settings.rtp_ports == (6000, 6001)
    assert load_settings({}).auth_enabled is True


@pytest.mark.parametrize("environ", [{"EDS_MAX_PIPELINES": "0"}, {"EDS_MAX_DECODED_PIXELS": "many"},
                                     {"EDS_AUTH": "maybe"}])
def test_bad_limits_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(UserError):
        load_settings(environ)


def test_the_triton_server_address_comes_from_the_environment() -> None:
    assert load_settings({}).triton_url == DEFAULT_TRITON_URL == "grpc://127.0.0.1:8001"
    assert load_settings({"EDS_TRITON_URL": " grpc://gpu-server:9001 "}).triton_url == "grpc://gpu-server:9001"


@pytest.mark.parametrize("url", ["gpu-server:8001", "http://gpu-server:8001", "grpc://gpu-server", "grpc://:8001"])
def test_a_bad_triton_server_address_is_a_one_line_error(url: str) -> None:
    with pytest.raises(UserError, match="grpc://HOST:PORT") as error:
        load_settings({"EDS_TRITON_URL": url})
    assert "\n" not in str(error.value)
