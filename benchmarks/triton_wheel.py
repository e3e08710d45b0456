"""A smaller `nvidia-pytriton` wheel for carrying to an offline GPU machine: only the Python backend stub of the
Python version(s) kept, and without the libpython 3.13 that only the 3.13 stub links (55 MB -> 39 MB); with --strip
also without the symbol tables of the binaries that ship them (`strip --strip-unneeded`, 36 MB); with --lzma its
members compressed with LZMA instead of deflate (26 MB; pip reads them through Python's zipfile like any wheel).

    python -m pip download --no-deps nvidia-pytriton==0.7.0 -d wheels/
    python -m benchmarks.triton_wheel wheels/nvidia_pytriton-0.7.0-py3-none-manylinux_2_35_x86_64.whl --keep 3.12 \
        [--strip] [--lzma] --output slim/

`core serve` uses the wheel's `tritonserver`, its Python backend and the stub of the running Python; nothing else
in the wheel changes. The wheel's RECORD is rewritten with the hashes of what is kept, so pip installs it as usual.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

STUB_FOLDER = re.compile(r"^pytriton/tritonserver/python_backend_stubs/(\d+\.\d+)/")
LIBPYTHON = re.compile(r"^nvidia_pytriton\.libs/libpython3-[0-9a-f]+\.(\d+)\.so")


def kept(name: str, versions: set[str]) -> bool:
    """Whether the wheel entry `name` stays: everything but the stubs and libpythons of other Python versions."""
    stub = STUB_FOLDER.match(name)
    if stub:
        return stub.group(1) in versions
    libpython = LIBPYTHON.match(name)
    return libpython is None or f"3.{libpython.group(1)}" in versions


ELF_MAGIC = b"\x7fELF"


def stripped(data: bytes) -> bytes:
    """An ELF file without its symbol tables (what the dynamic loader needs stays); other files unchanged."""
    if not data.startswith(ELF_MAGIC):
        return data
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "elf"
        path.write_bytes(data)
        subprocess.run(["strip", "--strip-unneeded", str(path)], check=True)
        return path.read_bytes()


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def slim_wheel(wheel: Path, output: Path, versions: set[str], *, strip: bool = False, lzma: bool = False) -> Path:
    """Write the slimmed copy of `wheel` into the folder `output` (same file name) and return its path."""
    output.mkdir(parents=True, exist_ok=True)
    target = output / wheel.name
    method, level = (zipfile.ZIP_LZMA, None) if lzma else (zipfile.ZIP_DEFLATED, 9)
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(target, "w", method, compresslevel=level) as slim:
        record_name = next(name for name in source.namelist() if name.endswith(".dist-info/RECORD"))
        lines = []
        for info in source.infolist():
            if info.filename == record_name or not kept(info.filename, versions):
                continue
            data = stripped(source.read(info)) if strip else source.read(info)
            slim.writestr(info, data, compress_type=method, compresslevel=level)
            lines.append(_record_line(info.filename, data))
        lines.append(f"{record_name},,")
        slim.writestr(source.getinfo(record_name), "\n".join(lines) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="the nvidia-pytriton wheel pip downloaded")
    parser.add_argument("--keep", action="append", required=True, help="Python version whose stub to keep (3.12)")
    parser.add_argument("--strip", action="store_true", help="strip the binaries' symbol tables (needs binutils)")
    parser.add_argument("--lzma", action="store_true", help="compress with LZMA instead of deflate")
    parser.add_argument("--output", type=Path, required=True, help="folder for the slim wheel")
    args = parser.parse_args(argv)
    target = slim_wheel(args.wheel, args.output, set(args.keep), strip=args.strip, lzma=args.lzma)
    print(f"{target} ({target.stat().st_size / 1e6:.1f} MB, was {args.wheel.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
