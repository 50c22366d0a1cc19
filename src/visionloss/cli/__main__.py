"""``python -m visionloss.cli``: the same as the ``visionloss`` command."""

import sys

from . import main

sys.exit(main())
