"""python -m training ...: the same as sentiment-train."""

import sys

from training.cli import train_main

sys.exit(train_main())
