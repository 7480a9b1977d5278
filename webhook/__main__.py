"""``python -m webhook`` is the ``placement-webhook`` command."""

import sys

from webhook.cli.main import main

sys.exit(main())
