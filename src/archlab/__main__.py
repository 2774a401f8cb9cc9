"""``python -m archlab`` is the ``archlab`` command (and what ``torchrun -m archlab`` launches)."""

from archlab.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
