"""Benchmark: what one 640x480 frame costs to send to `core serve` on the same host, inside the gRPC message or
through a registered system shared-memory region (what the `triton` detector does on loopback).

    python -m benchmarks.triton_transport [--requests 200] [--rounds 2]

One client, one request at a time, a server with one instance of the demo model's INT8 ONNX on one thread. Per
transport: CPU milliseconds per request of the client process and of tritonserver (the model instance's own time is
the same either way), and the wall time per request. CPU time, not wall time, so a loaded machine shifts it little.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from benchmarks.common import save_results
from benchmarks.triton_streams import DEMO_LABELS, children, cpu_seconds
from core.serve.names import FRAME_OUTPUTS, FRAMES_INPUT
from core.serve.process import ServeProcess
from core.stream.demo import draw_demo_frame

WARMUP_REQUESTS = 10


def measure(server: ServeProcess, transport: str, requests: int) -> dict:
    import tritonclient.grpc as grpc_client
    import tritonclient.utils.shared_memory as shared_memory

    client = grpc_client.InferenceServerClient(server.url.removeprefix("grpc://"))
    frame = draw_demo_frame(3, stamp=False)[0][None]
    outputs = [grpc_client.InferRequestedOutput(name) for name in FRAME_OUTPUTS]
    tritonserver = children(server.process.pid)
    region = f"eds-transport-{os.getpid()}"
    handle = None
    if transport == "shared memory":
        handle = shared_memory.create_shared_memory_region(region, f"/{region}", frame.nbytes)
        client.register_system_shared_memory(region, f"/{region}", frame.nbytes)
    try:
        for index in range(WARMUP_REQUESTS + requests):
            if index == WARMUP_REQUESTS:
                started, cpu = time.monotonic(), time.process_time()
                server_cpu = sum(cpu_seconds(pid) for pid in tritonserver)
            request = grpc_client.InferInput(FRAMES_INPUT, list(frame.shape), "UINT8")
            if handle is not None:
                shared_memory.set_shared_memory_region(handle, [frame])
                request.set_shared_memory(region, frame.nbytes)
            else:
                request.set_data_from_numpy(frame)
            client.infer(server.model, [request], outputs=outputs).as_numpy("count")
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
        server_cpu = sum(cpu_seconds(pid) for pid in tritonserver) - server_cpu
    finally:
        if handle is not None:
            client.unregister_system_shared_memory(region)
            shared_memory.destroy_shared_memory_region(handle)
    return {"transport": transport, "requests": requests,
            "client_cpu_ms_per_request": round(cpu / requests * 1000, 2),
            "tritonserver_cpu_ms_per_request": round(server_cpu / requests * 1000, 2),
            "wall_ms_per_request": round(elapsed / requests * 1000, 1)}


def main(argv: list[str] | None = None) -> int:
    from benchmarks.cpu_detect import ensure_int8_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2, help="each transport this many times, alternating")
    args = parser.parse_args(argv)
    load_average = [round(value, 2) for value in os.getloadavg()]
    options = ["--backend", "onnxruntime", "--device", "cpu", "--instances", "1", "--threads", "1"]
    with ServeProcess(ensure_int8_model(), DEMO_LABELS, options=options) as server:
        rows = [measure(server, transport, args.requests) for _ in range(args.rounds)
                for transport in ("gRPC", "shared memory")]
    for row in rows:
        print(json.dumps(row), file=sys.stderr)
    path = save_results("triton_transport", {"frame": "640x480 BGR uint8", "load_average_at_start": load_average,
                                             "rows": rows})
    print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
