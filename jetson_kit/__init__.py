"""The Jetson-side program: build, measure and evaluate TensorRT engines of a bundle made by `python -m core jetson
pack`, time pytorch-ssd's training and send the camera stream, on the Python, numpy and TensorRT a stock JetPack
ships (4.4 and 4.6: Python 3.6, TensorRT 7.1/8.2; 5.x: 3.8, 8.5; 6.x: 3.10, 8.6/10.3).

Run it with `bash scripts/jetson.sh COMMAND` (or `python3 -m jetson_kit COMMAND`). It is written for Python 3.6 and
imports only the standard library, numpy, TensorRT and pycuda when present (else a small ctypes binding of
libcudart); nothing of `core` is imported here. `jetson.tensorrt_api` is also what the server's own TensorRT path
uses, so TensorRT's version differences are handled in one place.
"""
