"""Count RecBole 1.2.1's FLOPs per training epoch and per test pass; runs in the RecBole environment.

Takes ``recbole_run``'s arguments (the model, data and sizes of a comparison) and ``--count-batches K``.
Each of the epoch's first K batches is trained as RecBole's ``Trainer._train_epoch`` trains it
(``model.calculate_loss``, then ``backward``, then the optimizer's step) with the loss and its backward
under ``torch.utils.flop_counter.FlopCounterMode`` (matmuls, batched matmuls and attention; elementwise
work counts zero; the optimizer does no matmuls). RecBole trains one example per prefix, each padded to
the maximum length, so a SASRec example costs the same FLOPs in every batch: the epoch's FLOPs are the
counted FLOPs per example times the epoch's examples. Then one full-ranking test pass, as
``recbole_run`` times it, under the counter. Prints one JSON record.
"""

from __future__ import annotations

import json

import torch
from recbole_run import build, identity, parser
from torch.utils.flop_counter import FlopCounterMode


def main() -> None:
    p = parser()
    p.add_argument("--count-batches", type=int, default=20, help="batches trained under the counter")
    a = p.parse_args()
    config, train, _, test, model, trainer = build(a)
    model.train()
    optimizer = trainer.optimizer
    flops, examples, batches = 0, 0, 0
    for interaction in train:
        if batches == a.count_batches:
            break
        interaction = interaction.to(config["device"])
        optimizer.zero_grad()
        counter = FlopCounterMode(display=False)
        with counter:
            loss = model.calculate_loss(interaction)
            loss.backward()
        optimizer.step()
        flops += int(counter.get_total_flops())
        examples += len(interaction)
        batches += 1
    epoch_examples = len(train.dataset)
    with FlopCounterMode(display=False) as counter:
        trainer.evaluate(test, load_best_model=False, show_progress=False)
    print(
        json.dumps(
            {
                **identity(a),
                "batch_size": a.batch_size,
                "counted_batches": batches,
                "counted_examples": examples,
                "flops_per_example": flops / examples,
                "epoch_examples": epoch_examples,
                "epoch_batches": len(train),
                "flops_epoch": flops / examples * epoch_examples,
                "flops_eval": int(counter.get_total_flops()),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
