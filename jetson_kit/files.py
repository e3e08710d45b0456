"""Small file helpers: atomic writes, sha256 of a file, JSON in and out (Python 3.6, standard library only)."""
import hashlib
import json
import os
import tempfile

from jetson_kit.errors import KitError


def write_atomic(path, data):
    """Write bytes to `path` through a temporary file in the same folder, so a reader never sees half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def write_json(path, value):
    return write_atomic(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def read_json(path, what):
    try:
        with open(path, "r", encoding="utf-8") as stream:
            return json.load(stream)
    except OSError as error:
        raise KitError("cannot read {} {}: {}".format(what, path, error.strerror or error))
    except ValueError as error:
        raise KitError("{} {} is not JSON: {}".format(what, path, error))


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
