"""``python -m writ_dagster.cli``: the ``writ`` command."""

import sys

from writ_dagster.cli import main

sys.exit(main())
