"""PyInstaller entry script: the same ``lectern`` command as the console script."""

import sys

from desktop.launcher import main

if __name__ == "__main__":
    sys.exit(main())
