"""The output folder's run history: one JSON file per run under `runs/`, and `runs.jsonl` written from them after
every change, in the format `python -m core runs import` and `python -m core jetson import` read (uuid, kind, status,
started_at, finished_at, params, device, host, pid, environment, parent_uuid, error, metrics, artifacts).

Each engine target is one run, which `build`, `bench` and `eval` each add to, so the history shows one row per
engine with its size, speed and (computed at import) accuracy. Python 3.6 and later; standard library only.
"""
import datetime
import glob
import json
import os
import uuid
import zipfile

from jetson_kit.files import file_sha256, read_json, write_atomic, write_json

RUNS_FILE = "runs.jsonl"
RUNS_FOLDER = "runs"
RESULTS_ARCHIVE = "results.zip"  # what the server's Runs page imports: runs, bundle facts, evaluation outputs
ARCHIVED = (RUNS_FILE, "manifest.json", "ground-truth.json")
ARCHIVED_FOLDER = "eval"


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class RunLog(object):
    def __init__(self, folder):
        self.folder = os.path.abspath(folder)
        os.makedirs(os.path.join(self.folder, RUNS_FOLDER), exist_ok=True)

    def _path(self, record):
        return os.path.join(self.folder, RUNS_FOLDER, record["uuid"] + ".json")

    def records(self):
        """Every run of the folder, oldest first."""
        found = [read_json(path, "run record") for path in glob.glob(os.path.join(self.folder, RUNS_FOLDER, "*.json"))]
        return sorted(found, key=lambda record: (record["started_at"], record["uuid"]))

    def find(self, kind, target):
        """The newest run of `kind` for `target` (a params["target"]), or None."""
        matching = [record for record in self.records()
                    if record["kind"] == kind and record["params"].get("target") == target]
        return matching[-1] if matching else None

    def start(self, kind, params, environment, parent_uuid=None):
        record = {
            "uuid": str(uuid.uuid4()), "kind": kind, "status": "running", "started_at": now(), "finished_at": None,
            "params": params, "device": environment["device"], "host": environment["host"], "pid": os.getpid(),
            "environment": environment, "parent_uuid": parent_uuid, "error": None, "metrics": [], "artifacts": [],
        }
        self.save(record)
        return record

    def save(self, record):
        write_json(self._path(record), record)
        text = "".join(json.dumps(item, sort_keys=True) + "\n" for item in self.records())
        write_atomic(os.path.join(self.folder, RUNS_FILE), text.encode("utf-8"))

    @staticmethod
    def metric(record, name, value, unit=None, epoch=None, class_name=None):
        """Set a metric (a later value of the same name, epoch and class replaces the earlier one)."""
        record["metrics"] = [item for item in record["metrics"]
                             if (item["name"], item["epoch"], item["class_name"]) != (name, epoch, class_name)]
        record["metrics"].append({"name": name, "value": float(value), "unit": unit, "epoch": epoch,
                                  "class_name": class_name})

    @staticmethod
    def artifact(record, path, kind="output", format=None, precision=None):
        path = os.path.abspath(path)
        record["artifacts"] = [item for item in record["artifacts"] if item["path"] != path]
        record["artifacts"].append({"kind": kind, "path": path, "sha256": file_sha256(path),
                                    "bytes": os.path.getsize(path), "format": format, "precision": precision})

    def finish(self, record, error=None, environment=None):
        """End a command's part of the run: succeeded, or failed with `error`; the environment of the newest
        command (power mode, clocks) replaces the older one."""
        record["status"] = "failed" if error else "succeeded"
        record["error"] = error
        record["finished_at"] = now()
        if environment is not None:
            record["environment"] = environment
        self.save(record)


def write_archive(folder):
    """`results.zip` of the output folder: runs.jsonl, the bundle's manifest and ground truth, eval/*.npz (not the
    engines), for the server's Runs page; written through a temporary file."""
    path = os.path.join(folder, RESULTS_ARCHIVE)
    temporary = path + ".partial"
    members = [name for name in ARCHIVED if os.path.isfile(os.path.join(folder, name))]
    members += sorted(os.path.join(ARCHIVED_FOLDER, name) for name in os.listdir(os.path.join(folder, ARCHIVED_FOLDER))
                      if name.endswith(".npz")) if os.path.isdir(os.path.join(folder, ARCHIVED_FOLDER)) else []
    with zipfile.ZipFile(temporary, "w") as archive:
        for name in members:
            compression = zipfile.ZIP_STORED if name.endswith(".npz") else zipfile.ZIP_DEFLATED
            archive.write(os.path.join(folder, name), name.replace(os.sep, "/"), compress_type=compression)
    os.replace(temporary, path)
    return path
