"""The package's one logger."""

from __future__ import annotations

import logging

__all__ = ["setup_cli_logging"]

logger = logging.getLogger("authcheck")


def setup_cli_logging(verbose: int = 0) -> None:
    """Plain stderr logging for the command line: warnings by default, -v info, -vv debug."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("authcheck: %(levelname)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
