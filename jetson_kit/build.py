"""`build`: the FP32, FP16 and INT8 engines of a bundle, with TensorRT's Python API on this TensorRT's path.

INT8 is calibrated with an entropy calibrator over the bundle's calibration images, in batches of the calibration
profile's opt batch, and its calibration table is cached beside the engines. An engine already built under the same
`EngineKey` (ONNX sha256, precision, profile, TensorRT, GPU, calibration set) is reused. Python 3.6 and later.
"""
import logging
import os
import time

from jetson_kit import tensorrt_api
from jetson_kit.errors import KitError

log = logging.getLogger(__name__)


def calibration_samples(bundle):
    """The bundle's calibration images one at a time, as the network's float32 input."""
    images = bundle.images("calibration")
    for index in range(len(images)):
        yield bundle.normalized(images[index:index + 1])


def build_plan(session, plan):
    """Build one engine (and its key) unless it is cached; returns True when it was built now."""
    if tensorrt_api.cached_engine(plan.engine_path, plan.key):
        log.info("reusing %s (same ONNX, precision, batch profile, TensorRT and GPU)",
                 os.path.basename(plan.engine_path))
        return False
    bundle, gpu, trt = session.bundle, session.gpu, session.trt
    with open(plan.onnx_path, "rb") as stream:
        onnx_bytes = stream.read()
    feed = calibrator = None
    if plan.precision == "int8":
        batch = tensorrt_api.calibration_batch_size(plan.batch_sizes)
        feed = tensorrt_api.CalibrationFeed(tensorrt_api.fixed_batches(calibration_samples(bundle), batch), batch,
                                            bundle.sample_shape, plan.cache_path, gpu.alloc, gpu.upload_now)
        calibrator = tensorrt_api.entropy_calibrator(trt, feed)
    try:
        serialized = tensorrt_api.build_serialized(trt, session.logger, onnx_bytes, os.path.basename(plan.onnx_path),
                                                   bundle.input_name, plan.precision, plan.batch_sizes,
                                                   bundle.sample_shape, calibrator)
    finally:
        if feed is not None:
            feed.close()
    if feed is not None and not feed.cache_hit and feed.batches_fed == 0:
        raise KitError("INT8 calibration saw no image")
    tensorrt_api.write_engine(plan.engine_path, serialized, plan.key)
    log.info("wrote %s (%.1f MB)", plan.engine_path, len(serialized) / 1e6)
    return True


def build(session, targets):
    """Build every target's engines, each target recorded in its run; returns the failures."""
    def step(record, target, precision):
        started = time.time()
        plans = session.plans(target, precision)
        built = sum(build_plan(session, plan) for plan in plans)
        runs = session.runs
        if built:
            runs.metric(record, "build_seconds", time.time() - started, unit="s")
        runs.metric(record, "model_bytes", os.path.getsize(plans[-1].engine_path), unit="B")
        for plan in plans:
            runs.artifact(record, plan.onnx_path, kind="input", format="onnx", precision="fp32")
            runs.artifact(record, plan.engine_path, format="engine", precision=precision)

    return session.each_target(targets, step, "build")
