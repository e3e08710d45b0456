"""A fake pycuda for the Jetson program's tests (see tests/jetson_fakes/README.md)."""
