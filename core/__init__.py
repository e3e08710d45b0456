"""edge detector studio core: models, detectors, streams, data and optimization jobs, usable without the UI."""
