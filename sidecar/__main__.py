"""`python -m splitline.sidecar ...` is `splitline sidecar ...`."""

import sys

from splitline.cli import main

if __name__ == "__main__":
    sys.exit(main(["sidecar", *sys.argv[1:]]))
