"""`eval`: every evaluation image of the bundle through each engine; the raw `scores` and `boxes` are saved
compressed (`eval/<target>.npz`, with the image ids), for the server to decode, suppress and score at import with
the same code as its own evaluations. Python 3.6 and later; numpy only.
"""
import logging
import os
import tempfile

import numpy as np

from jetson_kit.errors import KitError

log = logging.getLogger(__name__)
EVAL_FOLDER = "eval"


def save_outputs(path, outputs, image_ids):
    """`np.savez_compressed` through a temporary file, so an interrupted save leaves no partial file."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".eval-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez_compressed(stream, image_ids=np.array(image_ids), **outputs)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def run_images(runner, bundle, images, chunk):
    """Raw outputs of every image, by output name, float32."""
    results = {name: [] for name in bundle.output_names}
    for start in range(0, len(images), chunk):
        outputs = runner.infer(bundle.normalized(images[start:start + chunk]))
        for name, output in zip(bundle.output_names, outputs):
            results[name].append(output)
    return {name: np.concatenate(parts) for name, parts in results.items()}


def evaluate(session, targets, chunk=None):
    bundle = session.bundle
    images, image_ids = bundle.images("evaluation"), bundle.image_ids()
    if len(image_ids) != len(images):
        raise KitError("the bundle lists {} evaluation ids for {} images".format(len(image_ids), len(images)))

    def step(record, target, precision):
        plan = session.plans(target, precision)[-1]  # the largest profile; smaller chunks are padded
        runner = session.runner(plan)
        try:
            outputs = run_images(runner, bundle, images, chunk or runner.max_batch)
        finally:
            runner.close()
        relative = os.path.join(EVAL_FOLDER, target + ".npz")
        path = os.path.join(session.out, relative)
        save_outputs(path, outputs, image_ids)
        runs = session.runs
        runs.artifact(record, path, format="npz", precision=precision)
        runs.metric(record, "eval_images", len(images))
        record["params"]["eval_outputs"] = relative
        log.info("%s: raw outputs of %d images in %s", target, len(images), relative)

    return session.each_target(targets, step, "eval")
