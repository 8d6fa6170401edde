"""Compatibility home of :class:`Recommender`; it lives in :mod:`seqrec.serving.recommender`."""

from seqrec.serving.recommender import AmbiguousTitleError, Recommender, UnknownTitleError

__all__ = ["AmbiguousTitleError", "Recommender", "UnknownTitleError"]
