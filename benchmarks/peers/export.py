"""Write a seqrec-prepared dataset in the peers' input formats, so every library sees the same split.

Each user's sequence is written in seqrec's chronological order with ``timestamp`` = position within
the user's sequence (0, 1, 2, ...), so RecBole's leave-one-out ("LS", time order) and RecTools'
last-item hold-out pick exactly seqrec's validation and test items.

    python -m benchmarks.peers.export s3rec-beauty OUT_DIR
writes OUT_DIR/<name>/<name>.inter (RecBole atomic file) and OUT_DIR/<name>/interactions.csv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.common import mirror
from seqrec import SequenceDataset
from seqrec.config import DataConfig


def export(name: str, out: Path) -> Path:
    data = SequenceDataset.from_config(DataConfig(dataset=name))
    seqs = data.sequences
    rows = seqs.row_ids()
    position = np.arange(len(seqs.items)) - seqs.offsets[rows]
    frame = pl.DataFrame({"user_id": rows + 1, "item_id": seqs.items, "timestamp": position})
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    frame.rename(
        {"user_id": "user_id:token", "item_id": "item_id:token", "timestamp": "timestamp:float"}
    ).write_csv(folder / f"{name}.inter", separator="\t")
    frame.write_csv(folder / "interactions.csv")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    mirror()
    print(export(args.dataset, args.out))


if __name__ == "__main__":
    main()
