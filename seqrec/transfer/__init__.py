"""Pre-training and transfer: move a trained model to another dataset (``finetune``), with id mapping,
freezing strategies, adapters, and text-based item tables that need no shared ids."""

from seqrec.transfer.finetune import finetune
from seqrec.transfer.strategies import STRATEGIES, Strategy, apply_strategy
from seqrec.transfer.transplant import IdMapping, MapIds, map_vocabularies, transplant

__all__ = [
    "STRATEGIES",
    "IdMapping",
    "MapIds",
    "Strategy",
    "apply_strategy",
    "finetune",
    "map_vocabularies",
    "transplant",
]
