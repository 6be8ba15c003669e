"""``python -m hiface.train ...`` = ``hiface train ...`` (handy under ``torchrun -m``)."""
import sys

from ..cli.main import main

sys.exit(main(["train", *sys.argv[1:]]))
