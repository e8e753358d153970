"""``python -m desktop`` starts Lectern like the ``lectern`` command."""

import sys

from desktop.launcher import main

sys.exit(main())
