"""Deprecated: ``python -m hiface.train.gfrnet ARGS`` forwards to ``hiface train ARGS``.

GFRNet trains through the one entry point, ``hiface train --config configs/gfrnet-cpu.yaml``
(``task: gfrnet``; :mod:`hiface.train.tasks.gfrnet`), with the shared run folder, ``--resume``,
``--export``, EMA and torchrun. Configs of the old flat layout must move to the sectioned one
(see ``configs/gfrnet-cpu.yaml``).
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from ..cli.main import main as cli

    print("python -m hiface.train.gfrnet is deprecated: use `hiface train --config CFG.yaml` "
          "(a config with task: gfrnet)", file=sys.stderr)
    return cli(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
