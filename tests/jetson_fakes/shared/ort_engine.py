"""The fake TensorRT engine's arithmetic for the end-to-end test: the bundle's ONNX graph run by the server's
onnxruntime (this runs on the server's interpreter). Reads float32 input batches as .npy from stdin; writes the
number of outputs, then each output (in the graph's order), as .npy to stdout, each after its 8-byte length
(fake_trt_core.send_array)."""
import sys

import numpy as np
import onnxruntime

from fake_trt_core import receive_array, send_array


def main() -> None:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    names = [output.name for output in session.get_outputs()]
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while source.peek(1):
        outputs = session.run(names, {name: receive_array(source)})
        send_array(sink, np.array([len(outputs)], np.int64))
        for output in outputs:
            send_array(sink, np.ascontiguousarray(output))
        sink.flush()


if __name__ == "__main__":
    main()
