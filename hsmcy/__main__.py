"""``python -m hsmcy``: the same as the ``hsmcy`` command."""
import sys

from .cli import main

sys.exit(main())
