"""Fake TensorRT 10.3.0.30 (as on JetPack/6.1) for the Jetson program's tests: see tests/jetson_fakes/shared/fake_trt_core.py."""
import fake_trt_core

fake_trt_core.install(globals(), "10.3.0.30")
