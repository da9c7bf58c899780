"""python -m vision.train: train the logo embedder (vision.train.fit)."""

from .fit import main

raise SystemExit(main())
