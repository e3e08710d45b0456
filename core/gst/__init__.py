"""GStreamer tools for people connecting a camera: the Jetson's sender command (`sender`), an explainer for any
`gst-launch-1.0` line (`launch_line`, `lexer`, `syntax`, `caps`, `registry`, `nvidia`, `explain`, with `examples`)
and a converter of a pipeline's display sink to NVIDIA's (`convert`). Pure text work plus `gst-inspect-1.0` lookups;
no GStreamer Python bindings needed."""
