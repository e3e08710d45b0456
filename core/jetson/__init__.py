"""The server's side of the Jetson program (jetson_kit/): `pack` the bundle the Jetson measures, `import` what it sends
back (runs, with mAP computed here from its raw outputs)."""
