"""GStreamer tools for people connecting a camera: the Jetson's sender command (`jetson_sender`, for one of this
server's `addresses`), an explainer for any `gst-launch-1.0` line (`launch_line`, `lexer`, `syntax`, `caps`,
`element_info` from this machine's GStreamer registry, `nvidia`, `explain`, with `examples`), a converter of a
pipeline's display sink to NVIDIA's (`convert`), and the check of a receive pipeline before it is built (`receive`).
Pure text work plus `gst-inspect-1.0` lookups; only building a checked receive pipeline needs GStreamer's bindings,
which its caller hands in."""
