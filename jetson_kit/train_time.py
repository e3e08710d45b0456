"""`train-time`: time pytorch-ssd's own `train_ssd.py` on this Jetson for a few epochs and record Images/sec and Time
per epoch, the seed's training-speed table.

The script logs "Train dataset size: N" and, with `--debug-steps 1`, "Epoch: E, Step: S/T, ..." after every step.
An epoch's time is the time between the first step lines of two consecutive epochs, as the lines arrive. Validation
runs after epoch 0 and the last epoch only (`--validation-epochs` above the epoch count), so the epochs between are
pure training: at least 3 epochs give one timed epoch. Images/sec is the training images over that time, so the
two columns relate as in the seed's table. Python 3.6 and later; standard library only.
"""
import os
import re
import statistics
import subprocess
import sys
import time

from jetson_kit.cli import DATASET_TYPES, MIN_TRAIN_EPOCHS as MIN_EPOCHS
from jetson_kit.errors import KitError

SSD_FOLDERS = ("/jetson-inference/python/training/detection/ssd",
               "~/jetson-inference/python/training/detection/ssd")
_TRAIN_SIZE = re.compile(r"Train dataset size: (\d+)")
_STEP = re.compile(r"Epoch: (\d+), Step: (\d+)/(\d+)")
_TAIL_LINES = 5


def find_ssd_folder(given=None):
    """The folder holding train_ssd.py: `given`, else jetson-inference's (in its container or home checkout)."""
    candidates = [given] if given else [os.path.expanduser(folder) for folder in SSD_FOLDERS]
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, "train_ssd.py")):
            return os.path.abspath(folder)
    raise KitError("no train_ssd.py in {} (give --ssd-dir: jetson-inference's python/training/detection/ssd)".format(
        " or ".join(candidates)))


def epoch_times(events):
    """(training images, {epoch: seconds}) from (arrival seconds, line) events of train_ssd.py's log.

    Only epochs followed by another epoch and preceded by no validation pass are timed (epochs 1 .. last-1).
    """
    images, first_step = None, {}
    for seconds, line in events:
        size = _TRAIN_SIZE.search(line)
        if size:
            images = int(size.group(1))
        step = _STEP.search(line)
        if step and int(step.group(1)) not in first_step:
            first_step[int(step.group(1))] = seconds
    epochs = sorted(first_step)
    timed = {epoch: first_step[epoch + 1] - first_step[epoch] for epoch in epochs
             if epoch >= 1 and epoch + 1 in first_step}
    return images, timed


def train_command(python, data, dataset_type, model_dir, epochs, batch_size, workers, extra):
    return [python, "-u", "train_ssd.py", "--dataset-type", dataset_type, "--data", data, "--model-dir", model_dir,
            "--batch-size", str(batch_size), "--workers", str(workers), "--epochs", str(epochs),
            "--validation-epochs", str(epochs + 1), "--debug-steps", "1"] + list(extra)


def run_training(command, folder, log_path):
    """Run the training, echoing and logging its lines with their arrival time; returns the (seconds, line) events."""
    events = []
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log_file:
        process = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        try:
            for raw in process.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                events.append((time.monotonic() - started, line))
                log_file.write(line + "\n")
                sys.stderr.write(line + "\n")
            code = process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
    if code != 0:
        tail = " | ".join(line for _, line in events[-_TAIL_LINES:])
        raise KitError("train_ssd.py exited with {} (log {}): {}".format(code, log_path, tail))
    return events


def train_time(session, ssd_folder, data, dataset_type, epochs, batch_size, workers, python, extra):
    if epochs < MIN_EPOCHS:
        raise KitError("--epochs must be at least {}: epoch 0 and the last end with a validation pass, the epochs "
                       "between are timed".format(MIN_EPOCHS))
    if dataset_type not in DATASET_TYPES:
        raise KitError("--dataset-type must be one of {}".format(", ".join(DATASET_TYPES)))
    if not os.path.isdir(data):
        raise KitError("dataset folder not found: {}".format(data))
    folder = find_ssd_folder(ssd_folder)
    work = os.path.join(session.out, "train-time")
    os.makedirs(work, exist_ok=True)
    command = train_command(python, os.path.abspath(data), dataset_type, os.path.join(work, "models"), epochs,
                            batch_size, workers, extra)
    params = {"script": os.path.join(folder, "train_ssd.py"), "data": os.path.abspath(data),
              "dataset_type": dataset_type, "epochs": epochs, "batch_size": batch_size, "workers": workers,
              "command": command, "timed": "first step line of an epoch to the next epoch's, validation excluded"}
    environment = session.environment()
    record = session.runs.start("train", params, environment)
    try:
        images, timed = epoch_times(run_training(command, folder, os.path.join(work, "train.log")))
        if not images or not timed:
            raise KitError("train_ssd.py's log had no dataset size or no two consecutive epochs with steps "
                           "(is the dataset big enough for 2 steps an epoch?)")
    except KitError as error:
        session.runs.finish(record, error=str(error))
        raise
    runs = session.runs
    for epoch, seconds in sorted(timed.items()):
        runs.metric(record, "epoch_seconds", seconds, unit="s", epoch=epoch)
        runs.metric(record, "images_per_sec", images / seconds, unit="img/s", epoch=epoch)
    seconds = statistics.median(timed.values())
    runs.metric(record, "epoch_seconds", seconds, unit="s")
    runs.metric(record, "images_per_sec", images / seconds, unit="img/s")
    runs.metric(record, "train_images", images)
    runs.finish(record, environment=environment)
    return images / seconds, seconds
