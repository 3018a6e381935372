"""python -m service: the same as sentiment-serve."""

import sys

from service.cli import main

sys.exit(main())
