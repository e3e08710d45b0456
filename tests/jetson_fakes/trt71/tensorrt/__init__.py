"""Fake TensorRT 7.1.3 (as on JetPack/4.4) for the Jetson program's tests: see tests/jetson_fakes/shared/fake_trt_core.py."""
import fake_trt_core

fake_trt_core.install(globals(), "7.1.3")
