"""``python -m selfcodealign.evaluate --samples ...``: the ``evaluate`` command on its own."""

import sys

from selfcodealign.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
