"""Scripts for the lent GPU: the model zoo (run_zoo.sh), the peers table (run_peers.sh), the CUDA checks,
the step profile and the CUDA-graph A/B (run_checks.sh); and the Beauty SASRec trainer the last two share."""

from __future__ import annotations

from seqrec import RuntimeOptions, SeqRec, SequenceDataset
from seqrec.training.trainer import Trainer

BEAUTY_SASREC = {"name": "sasrec", "max_len": 50, "hidden": 64, "ff_hidden": 64, "blocks": 2, "heads": 2}
"""The peers table's SASRec (with dropout 0.2), batches of 256, lr 1e-3, CE over the whole catalogue."""


def beauty_trainer(
    data: SequenceDataset, device: str, precision: str, *, cuda_graphs: bool = False, epochs: int = 1
) -> Trainer:
    """A ``Trainer`` of ``BEAUTY_SASREC`` on ``data``, its model initialised from seed 42 on ``device``."""
    rec = SeqRec(
        model={**BEAUTY_SASREC, "dropout": 0.2},
        training={"loss": "ce", "epochs": epochs, "batch_size": 256, "lr": 0.001},
        evaluation={"ks": [10], "filter_seen": False, "coverage": False},
        runtime=RuntimeOptions(
            device=device, seed=42, progress=False, precision=precision, cuda_graphs=cuda_graphs
        ),
    )
    rec.runtime.apply()
    model = rec.build_model(data).to(rec.runtime.torch_device())
    return Trainer(model, data, rec.config, rec.runtime)
