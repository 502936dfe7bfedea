"""`ovlt-data` entry point."""

import sys


def main(argv=None) -> int:
    print("ovlt-data: not available yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
