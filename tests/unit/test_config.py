"""Settings from the environment: port ranges, limits, the auth switch and the Triton server address are
validated at the boundary; every EDS_* variable is read here and nowhere else, with no backend imported."""
from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from core.config import (DEFAULT_OPEN_IMAGES_ANNOTATIONS_URL, DEFAULT_RTP_PORTS, DEFAULT_TRITON_URL, REPO_ROOT,
                         load_settings, parse_ports)
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


def test_reading_the_settings_imports_no_backend_even_with_a_triton_url() -> None:
    code = ("import sys, json; from core.config import load_settings; "
            "load_settings({'EDS_TRITON_URL': 'grpc://gpu-server:9001'}); "
            "print(json.dumps([m for m in ('torch', 'core.detect', 'numpy') if m in sys.modules]))")
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == []


def test_password_webrtc_and_download_settings_come_from_the_environment() -> None:
    settings = load_settings({"EDS_PASSWORD": "s3cret", "EDS_ICE_SERVERS": "stun:10.0.0.1:3478",
                              "EDS_WEBRTC_HOST_ADDRESSES": "127.0.0.1", "EDS_DOWNLOAD_RETRIES": "0",
                              "EDS_DOWNLOAD_BACKOFF_S": "0.01", "EDS_DOWNLOAD_TIMEOUT_S": "10",
                              "EDS_OPEN_IMAGES_IMAGES_URL": "http://127.0.0.1:8000/images/"})
    assert (settings.password, settings.ice_servers, settings.webrtc_host_addresses) == (
        "s3cret", "stun:10.0.0.1:3478", "127.0.0.1")
    assert "s3cret" not in repr(settings)
    assert (settings.download_retries, settings.download_backoff_s, settings.download_timeout_s) == (0, 0.01, 10.0)
    assert settings.open_images_images_url == "http://127.0.0.1:8000/images"
    assert load_settings({}).open_images_annotations_url == DEFAULT_OPEN_IMAGES_ANNOTATIONS_URL
    with pytest.raises(UserError, match="bad download setting"):
        load_settings({"EDS_DOWNLOAD_RETRIES": "three"})


def _environment_reads(path) -> list[str]:
    """The EDS_* names `path` reads from the environment: `os.environ.get("EDS_...")`, `os.getenv("EDS_...")`,
    `environ["EDS_..."]` or `.get("EDS_...")` on a mapping named like the environment."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute) and (
                node.func.attr == "getenv" or node.func.attr == "get" and "env" in ast.unparse(node.func.value)):
            key = node.args[0]
        elif isinstance(node, ast.Subscript) and "env" in ast.unparse(node.value):
            key = node.slice
        else:
            continue
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value.startswith("EDS_"):
            names.append(key.value)
    return names


def test_only_the_settings_module_reads_eds_variables() -> None:
    readers = {path.relative_to(REPO_ROOT).as_posix() for folder in ("core", "db", "dashboard")
               for path in (REPO_ROOT / folder).rglob("*.py") if _environment_reads(path)}
    assert readers == {"core/config.py"}
    assert "EDS_PASSWORD" in _environment_reads(REPO_ROOT / "core" / "config.py")
