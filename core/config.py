"""The program's settings: one typed `Settings` from the environment (`load_settings`: every EDS_* variable is read
here and nowhere else, and handed on as `Settings`), the parsers that check their values at the start (ports,
networks, the Triton server's grpc:// URL), and where the repository's bundled assets lie. No I/O at import time; a
password in `.streamlit/secrets.toml` is the dashboard's to read (see core.access.auth.configured_password)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import UserError
from core.files.paths import resolved_under
from core.serve.names import DEFAULT_GRPC_PORT

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
DEMO_DIR = ASSETS_DIR / "demo"
SAMPLES_DIR = ASSETS_DIR / "samples"


DEFAULT_RTP_PORTS = tuple(range(5000, 5010))
DEFAULT_MAX_PIPELINES = 4
DEFAULT_MAX_DECODED_PIXELS = 3840 * 2160
DEFAULT_MAX_FPS = 60.0
DEFAULT_MAX_UPLOAD_PIXELS = 40_000_000
DEFAULT_TRITON_URL = f"grpc://127.0.0.1:{DEFAULT_GRPC_PORT}"  # `python -m core serve`'s default gRPC port, on this host
DEFAULT_SESSION_IDLE_HOURS = 12.0
DEFAULT_SESSION_MAX_HOURS = 7 * 24.0
DEFAULT_MAX_SESSION_UPLOAD_MB = 200
# Open Images v4 (2018_04), the files pytorch-ssd's downloader uses
DEFAULT_OPEN_IMAGES_ANNOTATIONS_URL = "https://storage.googleapis.com/openimages/2018_04"
DEFAULT_OPEN_IMAGES_IMAGES_URL = "https://open-images-dataset.s3.amazonaws.com"
DEFAULT_DOWNLOAD_TIMEOUT_S = 30.0
DEFAULT_DOWNLOAD_RETRIES = 3  # attempts after the first
DEFAULT_DOWNLOAD_BACKOFF_S = 1.0  # the first retry's wait, doubled for each further one


def _paths(value: str) -> tuple[Path, ...]:
    return tuple(Path(part).expanduser().resolve() for part in value.split(os.pathsep) if part.strip())


def parse_ports(text: str) -> tuple[int, ...]:
    """UDP ports from "5000-5009" or "5000,5002,5010-5011" (each 1024-65535), sorted and unique."""
    ports: set[int] = set()
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise UserError(f"not a port or port range: {part!r} (expected e.g. 5000-5009)") from None
        if not 1024 <= first <= last <= 65535:
            raise UserError(f"port range {part!r} must lie within 1024-65535, low to high")
        ports.update(range(first, last + 1))
    if not ports:
        raise UserError("no UDP port configured (expected e.g. 5000-5009)")
    return tuple(sorted(ports))


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"{name} must be a whole number, not {text!r}") from None
    if value <= 0:
        raise UserError(f"{name} must be positive, not {value}")
    return value


def _positive_number(env: Mapping[str, str], name: str, default: float, unit: str = "") -> float:
    """The positive number in `env[name]` (`default` when unset); `unit` (" of hours") words the error."""
    text = env.get(name, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        raise UserError(f"{name} must be a number{unit}, not {text!r}") from None
    if not 0 < value < float("inf"):
        raise UserError(f"{name} must be a positive number{unit}, not {text!r}")
    return value


def parse_networks(text: str, name: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """Addresses or networks from "127.0.0.1, 10.0.0.0/24" (`name` is the setting, for the error message)."""
    networks = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        try:
            networks.append(ip_network(part, strict=False))
        except ValueError:
            raise UserError(f"{name}: {part!r} is not an IP address or network (e.g. 127.0.0.1 or 10.0.0.0/24)") \
                from None
    return tuple(networks)


def _allowed_senders(env: Mapping[str, str]) -> str:
    text = env.get("EDS_RTP_ALLOWED_SENDERS", "").strip()
    parse_networks(text, "EDS_RTP_ALLOWED_SENDERS")  # a mistake is refused here, at the start
    return text


def parse_triton_url(url: str | None) -> str:
    """`grpc://HOST:PORT` -> "HOST:PORT" (the gRPC target); anything else is a one-line UserError."""
    if not url:
        raise UserError("the triton backend needs the inference server address, grpc://HOST:PORT (on the command "
                        "line: --triton-url grpc://HOST:PORT)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        port, parts = None, None
    if (parts is None or parts.scheme != "grpc" or not parts.hostname or port is None or not 1 <= port <= 65535
            or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username):
        raise UserError(f"triton url must be grpc://HOST:PORT with a port of 1..65535, got {url!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}"


def _triton_url(env: Mapping[str, str]) -> str:
    url = env.get("EDS_TRITON_URL", "").strip()
    if not url:
        return DEFAULT_TRITON_URL
    parse_triton_url(url)
    return url


def _download_number(env: Mapping[str, str], name: str, default: int | float) -> int | float:
    """`env[name]` as a number of `default`'s type (`default` when unset)."""
    try:
        return type(default)(env.get(name, default))
    except ValueError as error:
        raise UserError(f"bad download setting: {error}") from None


@dataclass(frozen=True)
class Settings:
    """Where data lives and which files the app may open.

    - `data_root`: the project's working folder (run history DB, exports, downloaded datasets).
    - `allowed_roots`: every file the dashboard opens must lie under one of these (plus the bundled assets).
    - `db_url`: any SQLAlchemy URL; empty means a SQLite file in `data_root`.
    - `auth_enabled`: the dashboard asks for a password (EDS_AUTH=off turns it off, for a trusted lab).
    - `rtp_ports`: the only UDP ports the dashboard may bind for RTP streams.
    - `max_pipelines`: how many live pipelines may run at once in the dashboard.
    - `max_decoded_pixels`: a decoded picture larger than this (width x height) is refused, whatever the source.
    - `max_fps`: no source delivers more pictures a second than this (a faster one has the extra ones dropped).
    - `rtp_allowed_senders`: the addresses or networks that may send RTP ("" for any), as EDS_RTP_ALLOWED_SENDERS
      writes them (checked here, followed by the RTP receiver).
    - `max_upload_pixels`: an uploaded image declaring more pixels than this is refused before decoding.
    - `triton_url`: the inference server the Live page offers first for the "Triton server" model choice.
    - `session_idle_s` / `session_max_s`: a dashboard login ends after this long without use / this long after it
      began.
    - `trusted_proxies`: reverse proxies whose X-Forwarded-For names the client (for the login throttle); empty:
      every client is known by its own address.
    - `max_session_upload_bytes`: uploaded files one login may hold on the server at once.
    - `password`: the dashboard password the operator set (EDS_PASSWORD; "" for none: see core.access.auth).
    - `ice_servers` / `webrtc_host_addresses`: the Live page's WebRTC settings as EDS_ICE_SERVERS and
      EDS_WEBRTC_HOST_ADDRESSES write them (see core.live.webrtc).
    - `open_images_annotations_url` / `open_images_images_url`, `download_timeout_s`, `download_retries`,
      `download_backoff_s`: where `dataset download` fetches Open Images files, and how it retries.
    """

    data_root: Path
    allowed_roots: tuple[Path, ...]
    db_url: str = ""
    auth_enabled: bool = True
    rtp_ports: tuple[int, ...] = DEFAULT_RTP_PORTS
    max_pipelines: int = DEFAULT_MAX_PIPELINES
    max_decoded_pixels: int = DEFAULT_MAX_DECODED_PIXELS
    max_fps: float = DEFAULT_MAX_FPS
    rtp_allowed_senders: str = ""
    max_upload_pixels: int = DEFAULT_MAX_UPLOAD_PIXELS
    triton_url: str = DEFAULT_TRITON_URL
    session_idle_s: float = DEFAULT_SESSION_IDLE_HOURS * 3600
    session_max_s: float = DEFAULT_SESSION_MAX_HOURS * 3600
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    max_session_upload_bytes: int = DEFAULT_MAX_SESSION_UPLOAD_MB * 1024 * 1024
    password: str = field(default="", repr=False)
    ice_servers: str = ""
    webrtc_host_addresses: str = ""
    open_images_annotations_url: str = DEFAULT_OPEN_IMAGES_ANNOTATIONS_URL
    open_images_images_url: str = DEFAULT_OPEN_IMAGES_IMAGES_URL
    download_timeout_s: float = DEFAULT_DOWNLOAD_TIMEOUT_S
    download_retries: int = DEFAULT_DOWNLOAD_RETRIES
    download_backoff_s: float = DEFAULT_DOWNLOAD_BACKOFF_S

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_root / 'history.sqlite'}"

    def confine(self, path: str | Path) -> Path:
        """Resolve `path` and refuse it unless it lies under an allowed root (symlinks resolved first)."""
        resolved = resolved_under(path, (*self.allowed_roots, ASSETS_DIR))
        if resolved is not None:
            return resolved
        roots = ", ".join(str(r) for r in self.allowed_roots)
        raise UserError(f"{path} is outside the configured data roots ({roots}); set EDS_ALLOWED_ROOTS to allow it")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from EDS_DATA_ROOT (default ./data), EDS_ALLOWED_ROOTS (os.pathsep list), EDS_DB_URL, EDS_AUTH
    (on|off), EDS_RTP_PORTS (default 5000-5009), EDS_RTP_ALLOWED_SENDERS, EDS_MAX_PIPELINES, EDS_MAX_DECODED_PIXELS,
    EDS_MAX_FPS (default 60), EDS_MAX_UPLOAD_PIXELS, EDS_TRITON_URL (grpc://HOST:PORT, default
    grpc://127.0.0.1:8001), EDS_SESSION_IDLE_HOURS (12), EDS_SESSION_MAX_HOURS (168), EDS_TRUSTED_PROXIES (addresses
    or networks), EDS_MAX_SESSION_UPLOAD_MB (200), EDS_PASSWORD, EDS_ICE_SERVERS, EDS_WEBRTC_HOST_ADDRESSES,
    EDS_OPEN_IMAGES_ANNOTATIONS_URL, EDS_OPEN_IMAGES_IMAGES_URL, EDS_DOWNLOAD_TIMEOUT_S (30), EDS_DOWNLOAD_RETRIES (3),
    EDS_DOWNLOAD_BACKOFF_S (1)."""
    env = os.environ if environ is None else environ
    data_root = Path(env.get("EDS_DATA_ROOT", "data")).expanduser().resolve()
    allowed = _paths(env.get("EDS_ALLOWED_ROOTS", "")) or (data_root,)
    auth = env.get("EDS_AUTH", "on").strip().lower()
    if auth not in ("on", "off"):
        raise UserError(f"EDS_AUTH must be 'on' or 'off', not {auth!r}")
    ports = parse_ports(env["EDS_RTP_PORTS"]) if env.get("EDS_RTP_PORTS", "").strip() else DEFAULT_RTP_PORTS
    return Settings(data_root=data_root, allowed_roots=allowed, db_url=env.get("EDS_DB_URL", ""),
                    auth_enabled=auth == "on", rtp_ports=ports,
                    max_pipelines=_positive_int(env, "EDS_MAX_PIPELINES", DEFAULT_MAX_PIPELINES),
                    max_decoded_pixels=_positive_int(env, "EDS_MAX_DECODED_PIXELS", DEFAULT_MAX_DECODED_PIXELS),
                    max_fps=_positive_number(env, "EDS_MAX_FPS", DEFAULT_MAX_FPS),
                    rtp_allowed_senders=_allowed_senders(env),
                    max_upload_pixels=_positive_int(env, "EDS_MAX_UPLOAD_PIXELS", DEFAULT_MAX_UPLOAD_PIXELS),
                    triton_url=_triton_url(env),
                    session_idle_s=_positive_number(env, "EDS_SESSION_IDLE_HOURS", DEFAULT_SESSION_IDLE_HOURS, " of hours") * 3600,
                    session_max_s=_positive_number(env, "EDS_SESSION_MAX_HOURS", DEFAULT_SESSION_MAX_HOURS, " of hours") * 3600,
                    trusted_proxies=parse_networks(env.get("EDS_TRUSTED_PROXIES", ""), "EDS_TRUSTED_PROXIES"),
                    max_session_upload_bytes=_positive_int(env, "EDS_MAX_SESSION_UPLOAD_MB",
                                                           DEFAULT_MAX_SESSION_UPLOAD_MB) * 1024 * 1024,
                    password=env.get("EDS_PASSWORD", ""),
                    ice_servers=env.get("EDS_ICE_SERVERS", ""),
                    webrtc_host_addresses=env.get("EDS_WEBRTC_HOST_ADDRESSES", ""),
                    open_images_annotations_url=env.get("EDS_OPEN_IMAGES_ANNOTATIONS_URL",
                                                        DEFAULT_OPEN_IMAGES_ANNOTATIONS_URL).rstrip("/"),
                    open_images_images_url=env.get("EDS_OPEN_IMAGES_IMAGES_URL",
                                                   DEFAULT_OPEN_IMAGES_IMAGES_URL).rstrip("/"),
                    download_timeout_s=_download_number(env, "EDS_DOWNLOAD_TIMEOUT_S", DEFAULT_DOWNLOAD_TIMEOUT_S),
                    download_retries=_download_number(env, "EDS_DOWNLOAD_RETRIES", DEFAULT_DOWNLOAD_RETRIES),
                    download_backoff_s=_download_number(env, "EDS_DOWNLOAD_BACKOFF_S", DEFAULT_DOWNLOAD_BACKOFF_S))
