"""Entry point: ``python run_recbole_prune.py --model=GCNPruneGAN --dataset=ml-100k``."""

import sys

from recbole_gcnprune.cli import main

if __name__ == "__main__":
    sys.exit(main())
