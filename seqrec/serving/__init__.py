"""Serving: a recommender over a saved run, batch recommendations, a FAISS retrieval index, an HTTP app.

``seqrec.serving.recommender.Recommender.load(run_dir)`` needs only the run directory. The HTTP app
(``seqrec.serving.app``) imports FastAPI, so it is not imported here.
"""

from seqrec.serving.index import IndexConfig, RetrievalIndex
from seqrec.serving.recommender import (
    AmbiguousTitleError,
    Recommender,
    UnknownTitleError,
)

__all__ = ["AmbiguousTitleError", "IndexConfig", "Recommender", "RetrievalIndex", "UnknownTitleError"]
