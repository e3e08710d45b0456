"""Fake TensorRT 8.5.2.2 (as on JetPack/5.1) for the Jetson program's tests: see tests/jetson_fakes/shared/fake_trt_core.py."""
import fake_trt_core

fake_trt_core.install(globals(), "8.5.2.2")
