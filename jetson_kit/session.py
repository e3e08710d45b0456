"""What every command of the Jetson program works with: the bundle, the output folder and its run log, TensorRT
(imported when first needed), the CUDA device, and the engines each target is built as (`EnginePlan`).

A target is built as one engine with a dynamic batch profile over the bundle's batch sizes, or (TensorRT 7, whose
ONNX parser and optimizer are most reliable on fixed shapes, or when asked) as one engine per batch size from the
bundle's fixed-batch graphs. Engines are cached under `<out>/engines` by `EngineKey`. Python 3.6 and later.
"""
import logging
import os

from jetson_kit import device, tensorrt_api
from jetson_kit.bundle import Bundle
from jetson_kit.cuda import open_gpu
from jetson_kit.cli import FIXED_BATCH_CHOICES
from jetson_kit.errors import KitError
from jetson_kit.records import RunLog

log = logging.getLogger(__name__)
ENGINE_RUN_KIND = "optimize"  # the history's kind for a measured optimization target
REFERENCE_TARGET = "ort-fp32"  # the server's FP32 reference the bundle was evaluated with


class EnginePlan(object):
    """One engine of a target: its ONNX graph, batch sizes (one profile), key and file."""

    def __init__(self, target, precision, batch_sizes, onnx_path, key, engine_path, cache_path):
        self.target, self.precision, self.batch_sizes = target, precision, list(batch_sizes)
        self.onnx_path, self.key, self.engine_path, self.cache_path = onnx_path, key, engine_path, cache_path


class Session(object):
    def __init__(self, bundle_folder, out_folder, cuda="auto", fixed_batch="auto", need_bundle=True):
        self.out = os.path.abspath(out_folder)
        os.makedirs(self.out, exist_ok=True)
        self.bundle = Bundle(bundle_folder) if need_bundle else None
        self.runs = RunLog(self.out)
        self._cuda_choice, self._fixed_choice = cuda, fixed_batch
        if fixed_batch not in FIXED_BATCH_CHOICES:
            raise KitError("--fixed-batch must be one of {}, not {}".format(", ".join(FIXED_BATCH_CHOICES),
                                                                            fixed_batch))
        self._trt = self._logger = self._gpu = None

    @property
    def trt(self):
        if self._trt is None:
            try:
                import tensorrt
            except ImportError as error:
                raise KitError("cannot import tensorrt ({}): JetPack installs it for its system Python "
                               "(apt python3-libnvinfer); run this with that python3".format(error))
            self._trt = tensorrt
        return self._trt

    @property
    def logger(self):
        if self._logger is None:
            self._logger = self.trt.Logger(self.trt.Logger.WARNING)
        return self._logger

    @property
    def gpu(self):
        if self._gpu is None:
            self._gpu = open_gpu(self._cuda_choice)
        return self._gpu

    def environment(self):
        """The run environment; TensorRT and the GPU are named once a command has loaded them."""
        gpu = self._gpu
        return device.environment(tensorrt_version=str(self._trt.__version__) if self._trt else None,
                                  gpu=gpu.name if gpu else None, cuda=gpu.kind if gpu else None)

    def close(self):
        if self._gpu is not None:
            self._gpu.close()
            self._gpu = None

    # ------------------------------------------------------------ targets and engines

    def targets(self, names=None):
        """(target, precision) pairs: the bundle's targets, or those of `names` (comma-separated) in its order."""
        known = self.bundle.targets
        if not names:
            return known
        wanted = [name.strip() for name in names.split(",") if name.strip()]
        unknown = [name for name in wanted if name not in dict(known)]
        if unknown or not wanted:
            raise KitError("unknown target(s) {} (the bundle has {})".format(", ".join(unknown) or "(none)",
                                                                             ", ".join(dict(known))))
        return [(name, precision) for name, precision in known if name in wanted]

    def fixed_batch(self):
        if self._fixed_choice == "auto":
            return tensorrt_api.major_version(self.trt) < 8 and self.bundle.has_fixed_batch_graphs()
        return self._fixed_choice == "yes"

    def plans(self, target, precision):
        """The engines `target` is built as, largest batch last."""
        bundle = self.bundle
        calibration = bundle.manifest["calibration"]["sha256"] if precision == "int8" else ""
        groups = [[size] for size in sorted(bundle.batch_sizes)] if self.fixed_batch() else [bundle.batch_sizes]
        plans = []
        for sizes in groups:
            onnx_path, onnx_sha256 = bundle.onnx_file(sizes[0] if self.fixed_batch() else None)
            key = tensorrt_api.EngineKey(onnx_sha256, precision, tensorrt_api.batch_profile(sizes),
                                         str(self.trt.__version__), self.gpu.name, calibration)
            stem = os.path.splitext(os.path.basename(onnx_path))[0]
            folder = os.path.join(self.out, "engines")
            plans.append(EnginePlan(target, precision, sizes, onnx_path, key,
                                    os.path.join(folder, tensorrt_api.engine_file_name(stem, key)),
                                    os.path.join(folder, tensorrt_api.calibration_cache_name(stem, key))))
        return plans

    def runner(self, plan):
        """An `EngineRunner` of a built plan (KitError if it was not built here)."""
        if not tensorrt_api.cached_engine(plan.engine_path, plan.key):
            raise KitError("no {} engine for batch sizes {} built with this TensorRT on this GPU: run `build` "
                           "first".format(plan.precision, plan.batch_sizes))
        with open(plan.engine_path, "rb") as stream:
            serialized = stream.read()
        return tensorrt_api.EngineRunner(self.trt, self.logger, serialized, self.gpu, self.bundle.input_name,
                                         self.bundle.output_names, os.path.basename(plan.engine_path))

    # ------------------------------------------------------------ the history

    def engine_run(self, target, precision):
        """The run of `target` for this bundle in the output folder, started now if there is none yet."""
        manifest = self.bundle.manifest
        existing = self.runs.find(ENGINE_RUN_KIND, target)
        if existing is not None and existing["params"].get("bundle_uuid") == manifest["pack_run_uuid"] \
                and existing["params"].get("tensorrt_version") == str(self.trt.__version__):
            return existing
        params = {
            "optimize_id": manifest["optimize_id"], "target": target, "backend": "tensorrt", "precision": precision,
            "weights": manifest["model"]["weights"], "labels": manifest["model"]["labels"],
            "data": manifest["dataset"]["path"], "eval_split": manifest["evaluation"]["split"],
            "batch_sizes": self.bundle.batch_sizes, "reference": REFERENCE_TARGET,
            "bundle_uuid": manifest["pack_run_uuid"], "onnx_sha256": self.bundle.onnx["sha256"],
            "tensorrt_version": str(self.trt.__version__), "fixed_batch_engines": self.fixed_batch(),
            "eval_images": manifest["evaluation"]["images"],
        }
        if precision == "int8":
            params.update(calib_images=manifest["calibration"]["images"], calib_method="entropy2",
                          calib_split=manifest["calibration"]["split"])
        return self.runs.start(ENGINE_RUN_KIND, params, self.environment(), parent_uuid=manifest["onnx"]["run_uuid"])

    def each_target(self, targets, step, what):
        """Run `step(record, target, precision)` for each target inside its engine run; a KitError fails that
        target's run (with the message) and the others go on. Returns the failures as "target: message" lines."""
        failures = []
        for target, precision in targets:
            record = self.engine_run(target, precision)
            try:
                step(record, target, precision)
            except KitError as error:
                log.error("%s %s failed: %s", what, target, error)
                self.runs.finish(record, error="{}: {}".format(what, error))
                failures.append("{}: {}".format(target, error))
                continue
            except BaseException as error:  # a bug or an interruption: the run says so, then the traceback
                self.runs.finish(record, error="{}: {}: {}".format(what, type(error).__name__, error))
                raise
            self.runs.finish(record, environment=self.environment())
        return failures
