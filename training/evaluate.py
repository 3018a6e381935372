"""python -m training.evaluate ...: the same as sentiment-evaluate."""

import sys

from training.cli import evaluate_main

if __name__ == "__main__":
    sys.exit(evaluate_main())
