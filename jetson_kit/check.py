"""`check`: what this Jetson has for the program, one line each, and one line for each thing missing.

Python, numpy, TensorRT (and which of its APIs: build and run paths), CUDA (pycuda or libcudart, the GPU, its
memory), the module, L4T and JetPack releases, power mode, clocks, free memory, GStreamer's hardware encoder and
the bundle's files. Only what `build`/`bench`/`eval` cannot do without (numpy, TensorRT, CUDA) fails the check.
Python 3.6 and later.
"""
import platform
import shutil
import sys

from jetson_kit import device
from jetson_kit.errors import KitError

NPTYPE_FIXED = (8, 6)  # trt.nptype names np.bool before 8.6, which numpy 1.24 removed


def _version_tuple(text):
    parts = []
    for part in str(text).split(".")[:2]:
        digits = "".join(character for character in part if character.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def tensorrt_lines(trt):
    version = str(trt.__version__)
    builder_api = "build_serialized_network" if hasattr(trt.Builder, "build_serialized_network") else "build_engine"
    run_api = "named tensors" if hasattr(trt.ICudaEngine, "num_io_tensors") else "bindings"
    lines = ["tensorrt: {} (builds with {}, runs with {})".format(version, builder_api, run_api)]
    numpy_version = device.numpy_version() or "0"
    if _version_tuple(version) < NPTYPE_FIXED and _version_tuple(numpy_version) >= (1, 24):
        lines.append("note: trt.nptype of TensorRT {} fails with numpy {}; this program maps types itself".format(
            version, numpy_version))
    return lines


def check_lines(cuda="auto", bundle_folder=None):
    """(ok, line) pairs; ok False marks a missing requirement."""
    found = [(True, "python: {} ({})".format(platform.python_version(), sys.executable))]
    numpy_version = device.numpy_version()
    found.append((numpy_version is not None, "numpy: {}".format(numpy_version) if numpy_version
                  else "missing: numpy (JetPack: sudo apt install python3-numpy)"))
    if numpy_version is None:
        return found  # TensorRT's module and the CUDA bindings need numpy
    from jetson_kit.cuda import driver_device_count, open_gpu

    try:
        import tensorrt as trt
    except ImportError as error:
        found.append((False, "missing: tensorrt for this Python ({}); JetPack installs it for its system python3 "
                             "(apt python3-libnvinfer)".format(error)))
    else:
        found += [(True, line) for line in tensorrt_lines(trt)]
    found.append((True, "cuda driver: {} GPU(s)".format(driver_device_count())))
    try:
        gpu = open_gpu(cuda)
    except KitError as error:
        found.append((False, "missing: CUDA for this program: {}".format(error)))
    else:
        free, total = gpu.memory()
        found.append((True, "cuda: {} through {}, {:.0f} of {:.0f} MiB free".format(gpu.name, gpu.kind, free / 2**20,
                                                                                  total / 2**20)))
        gpu.close()
    l4t = device.l4t_release()
    found.append((True, "module: {}".format(device.module_name() or "not a Jetson (no /proc/device-tree/model)")))
    found.append((True, "L4T {}, JetPack {}".format(l4t or "unknown", device.jetpack_release(l4t) or "unknown")))
    mode, clocks = device.power_mode(), device.clocks()
    found.append((True, "power mode: {}".format(mode or "unknown (no nvpmodel)")))
    found.append((True, "clocks: {}".format(clocks.splitlines()[0] if clocks else
                                            "not read (jetson_clocks --show needs root: run `sudo -v` first)")))
    found.append((True, "available memory: {} MiB".format(device.available_memory_mb())))
    encoders = [name for name in ("nvv4l2h265enc", "omxh265enc")
                if shutil.which("gst-inspect-1.0") and device.run_tool(["gst-inspect-1.0", name]) is not None]
    found.append((True, "H.265 encoder: {}".format(", ".join(encoders)) if encoders
                  else "missing: GStreamer hardware H.265 encoder (only `stream` needs it)"))
    if bundle_folder:
        from jetson_kit.bundle import Bundle

        try:
            bundle = Bundle(bundle_folder)
            bundle.verify()
        except KitError as error:
            found.append((False, "missing: a usable bundle: {}".format(error)))
        else:
            found.append((True, "bundle: {} targets, {} calibration and {} evaluation images, all files match".format(
                len(bundle.targets), bundle.manifest["calibration"]["images"],
                bundle.manifest["evaluation"]["images"])))
    return found
