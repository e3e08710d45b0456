"""`python3 -m jetson_kit COMMAND`: the Jetson program (see jetson_kit/cli.py)."""
import sys

from jetson_kit.cli import main

sys.exit(main())
