"""python -m bulk: the same as sentiment-score."""

import sys

from bulk.cli import main

sys.exit(main())
