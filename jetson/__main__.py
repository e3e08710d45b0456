"""`python3 -m jetson COMMAND`: the Jetson program (see jetson/cli.py)."""
import sys

from jetson.cli import main

sys.exit(main())
