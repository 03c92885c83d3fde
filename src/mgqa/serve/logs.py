"""mgqa's log lines while serving: where they go, and what an internal error may say."""

from __future__ import annotations

import logging
import traceback

log = logging.getLogger("mgqa.web")


def log_internal_error(exc: BaseException, where: str) -> None:
    """Type and stack only: an exception's message could quote the patient's question."""
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error("internal error in %s: %s\n%s", where, type(exc).__name__, stack)



def configure_logging() -> None:
    """mgqa's own lines on stderr: index reloads, internal errors (type and stack, never the
    question) and, only when MGQA_LOG_QUESTIONS is on, questions (``Asker`` decides that)."""
    logger = logging.getLogger("mgqa")
    if any(getattr(h, "mgqa", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.mgqa = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s mgqa[%(process)d] %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
