"""``python -m webhook`` is the ``placement-webhook`` command."""

import sys

from webhook.cli import main

sys.exit(main())
