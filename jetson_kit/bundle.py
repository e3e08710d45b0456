"""The bundle `python -m core jetson pack` writes: read its manifest, check its files, load its images.

A bundle folder holds `manifest.json` (what everything is, with sha256), the ONNX graph (`model.onnx`, dynamic batch,
and `model-b<N>.onnx` with a fixed batch N for TensorRT 7), `labels.txt`, the calibration and evaluation images as
uint8 arrays already resized and laid out as the network takes them (N,3,300,300 RGB; `.npy`), and the evaluation
images' ground truth (`ground-truth.json`, read on the server at import). The network's input is
`(pixels - mean) / std` in float32, with mean and std from the manifest. Python 3.6 and later; numpy only.
"""
import os

import numpy as np

from jetson_kit.errors import KitError
from jetson_kit.files import file_sha256, read_json

MANIFEST = "manifest.json"
GROUND_TRUTH = "ground-truth.json"
FORMAT = 1


class Bundle(object):
    def __init__(self, folder):
        self.folder = os.path.abspath(folder)
        path = os.path.join(self.folder, MANIFEST)
        if not os.path.isfile(path):
            raise KitError("{} is not a bundle (no {}); make one on the server with `python -m core jetson pack`"
                           .format(folder, MANIFEST))
        self.manifest = read_json(path, "bundle manifest")
        if self.manifest.get("format") != FORMAT:
            raise KitError("{} has bundle format {!r}; this program reads format {} (pack it again with this "
                           "checkout)".format(path, self.manifest.get("format"), FORMAT))
        network = self.manifest["input"]
        self.input_name = str(network["name"])
        self.output_names = tuple(self.manifest["outputs"])
        self.sample_shape = tuple(int(d) for d in network["shape"])
        self.mean, self.std = float(network["mean"]), float(network["std"])
        self.batch_sizes = [int(size) for size in self.manifest["batch_sizes"]]
        self.targets = [(str(item["name"]), str(item["precision"])) for item in self.manifest["targets"]]

    def path(self, name):
        return os.path.join(self.folder, name)

    @property
    def manifest_path(self):
        return self.path(MANIFEST)

    @property
    def onnx(self):
        return self.manifest["onnx"]

    def onnx_file(self, batch=None):
        """(path, sha256) of the dynamic-batch graph, or of the fixed-batch graph of `batch`."""
        if batch is None:
            return self.path(self.onnx["file"]), self.onnx["sha256"]
        variants = self.onnx.get("fixed_batch", {})
        if str(batch) not in variants:
            raise KitError("the bundle has no fixed-batch graph for batch {} (it has {}); pack it with "
                           "--fixed-batch-graphs".format(batch, sorted(int(b) for b in variants) or "none"))
        return self.path(variants[str(batch)]["file"]), variants[str(batch)]["sha256"]

    def has_fixed_batch_graphs(self):
        return bool(self.onnx.get("fixed_batch"))

    def precision_of(self, target):
        return dict(self.targets)[target]

    def verify(self):
        """Every file the manifest names, with its sha256; a missing or changed file is a KitError."""
        for name, expected in self.manifest["files"].items():
            path = self.path(name)
            if not os.path.isfile(path):
                raise KitError("the bundle lacks {} (copy the whole folder)".format(name))
            if file_sha256(path) != expected:
                raise KitError("{} in the bundle does not match its manifest (copied incompletely?)".format(name))

    def images(self, which):
        """The uint8 (N,C,H,W) images of "calibration" or "evaluation", memory-mapped."""
        entry = self.manifest[which]
        path = self.path(entry["file"])
        try:
            images = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as error:
            raise KitError("cannot read {}: {}".format(path, error))
        expected = (int(entry["images"]),) + self.sample_shape
        if images.dtype != np.uint8 or images.shape != expected:
            raise KitError("{} holds {} {}, the manifest says uint8 {}".format(path, images.dtype, images.shape,
                                                                            expected))
        return images

    def image_ids(self):
        return [str(image_id) for image_id in self.manifest["evaluation"]["ids"]]

    def normalized(self, pixels):
        """The network input of uint8 pixels: float32 (pixels - mean) / std."""
        batch = np.array(pixels, dtype=np.float32)
        batch -= np.float32(self.mean)
        batch /= np.float32(self.std)
        return batch
