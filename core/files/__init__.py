"""Files, safely: atomic writes, JSON results, content digests, paths confined to their roots and files only this
user may read."""
