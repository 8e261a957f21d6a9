"""``python -m app.api``: the HTTP API process (see `app.api.server`)."""
import sys

from app.api import main

sys.exit(main())
