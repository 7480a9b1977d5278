"""``python -m webhook`` is the ``placement-webhook`` command."""

import sys

from webhook.cli.main import main

if __name__ == "__main__":  # importing it runs nothing
    sys.exit(main())
