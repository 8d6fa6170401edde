"""seqrec: transformer-based sequential recommendation with honest evaluation and transfer."""

__version__ = "0.1.0"

from seqrec.api import SeqRec
from seqrec.config import RunConfig, load_config
from seqrec.data.dataset import SequenceDataset
from seqrec.runtime import RuntimeOptions

__all__ = ["RunConfig", "RuntimeOptions", "SeqRec", "SequenceDataset", "__version__", "load_config"]
