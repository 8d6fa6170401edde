"""CUDA-graph training (``runtime.cuda_graphs``): the static step on every device, the graph on a GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec import RuntimeOptions, SeqRec, SequenceDataset
from seqrec.config import build_config
from seqrec.data.batch import TrainBatch
from seqrec.models import build_model
from seqrec.nn.losses import DenseCrossEntropy, FullCrossEntropy
from seqrec.training.graphs import pad_batch
from seqrec.training.trainer import GRAPH_MODELS, Trainer, check_graphs


def _batch(seed: int = 0) -> TrainBatch:
    g = torch.Generator().manual_seed(seed)
    valid = torch.arange(7) >= torch.tensor([0, 2, 4, 6, 3])[:, None]  # [5, 7], left padding
    items = torch.randint(1, 41, (5, 7), generator=g) * valid
    targets = torch.randint(1, 41, (5, 7), generator=g) * valid
    targets[1, 3] = 0  # a real position without a target
    return TrainBatch(
        items=items,
        users=torch.arange(1, 6),
        timestamps=torch.cumsum(valid.long(), 1) * valid,
        targets=targets,
    )


def _config(name: str = "sasrec", **training: object):  # type: ignore[no-untyped-def]
    model = {"name": name, "max_len": 10, "hidden": 16, "blocks": 2, "heads": 2, "dropout": 0.0}
    return build_config({"data": {}, "model": model, "training": {"loss": "ce", "batch_size": 8, **training}})


@pytest.mark.parametrize("autocast", [False, True])
def test_dense_ce_equals_the_chunked_ce(device: torch.device, autocast: bool) -> None:
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(5, 7, 16, generator=g).to(device).requires_grad_()
    table = torch.randn(41, 16, generator=g).to(device).requires_grad_()
    targets = _batch().targets.to(device)
    results = []
    for loss in (FullCrossEntropy(), DenseCrossEntropy()):
        hidden.grad = table.grad = None
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            value = loss(hidden, targets, None, table)
        value.backward()
        results.append((value.float(), hidden.grad.clone(), table.grad.clone()))
    tolerance = {"rtol": 2e-2, "atol": 2e-3} if autocast else {}
    for chunked, dense in zip(*results, strict=True):
        torch.testing.assert_close(dense, chunked, **tolerance)


@pytest.mark.parametrize("name", GRAPH_MODELS)
def test_padding_a_batch_leaves_the_loss_and_gradients(name: str, device: torch.device) -> None:
    """The graph's static ``[rows, width]`` batch (histories padded on the left, empty rows after them)
    gives the loss and every gradient of the batch as the objective built it."""
    torch.manual_seed(0)
    cfg = _config(name)
    model = build_model(cfg.model, 40, 6).to(device).train()
    batch = _batch()
    padded = pad_batch(batch, 8, 10)
    assert padded.items.shape == padded.targets.shape == (8, 10) and padded.users.shape == (8,)
    assert torch.equal(padded.items[:5, 3:], batch.items) and not padded.items[5:].any()
    runs = []
    for b, loss in ((batch, FullCrossEntropy()), (padded, DenseCrossEntropy())):
        model.zero_grad(set_to_none=True)
        value = model.training_loss(b.to(device), loss)
        value.backward()
        runs.append((value, {n: p.grad for n, p in model.named_parameters() if p.grad is not None}))
    (value, grads), (padded_value, padded_grads) = runs
    torch.testing.assert_close(padded_value, value)
    assert grads.keys() == padded_grads.keys()
    for key, grad in grads.items():
        torch.testing.assert_close(padded_grads[key], grad, rtol=1e-4, atol=1e-6, msg=key)


def test_pad_batch_refuses_a_batch_larger_than_the_graph() -> None:
    with pytest.raises(ValueError, match=r"batch field items \(5, 7\) exceeds \[4, 10\]"):
        pad_batch(_batch(), 4, 10)


def test_cuda_graphs_say_what_they_need() -> None:
    cpu = torch.device("cpu")
    with pytest.raises(ValueError, match=r"a CUDA device \(the device is cpu\)"):
        check_graphs(_config(), 40, cpu)
    cuda = torch.device("cuda")
    with pytest.raises(ValueError, match=r"training.loss 'ce' \(it is 'bce'\); a fixed learning rate"):
        check_graphs(_config(loss="bce", lr_step_epochs=5), 40, cuda)
    with pytest.raises(ValueError, match=r"model.name is 'sasfpt'"):
        check_graphs(_config("sasfpt"), 40, cuda)
    with pytest.raises(ValueError, match=r"8 x 10 x 20000000 floats, 6.0 GiB"):
        check_graphs(_config(), 20_000_000, cuda)
    bert = build_config(
        {"data": {}, "model": {"name": "bert4rec", "rtd_weight": 1.0}, "training": {"loss": "ce"}}
    )
    with pytest.raises(ValueError, match=r"model.rtd_weight 0 \(replaced-item detection"):
        check_graphs(bert, 40, cuda)
    check_graphs(_config(), 40, cuda)  # nothing to say


@pytest.fixture
def gpu(device: torch.device) -> torch.device:
    if device.type != "cuda":
        pytest.skip("CUDA graphs need a GPU")
    return device


def test_graphed_training_follows_eager_training(dataset: SequenceDataset, gpu: torch.device) -> None:
    """Without dropout, from the same initialisation and batches: 3 eager warm-up steps, the capture and
    replays leave the same weights as eager steps, and the same epoch losses."""
    results = []
    for graphs in (False, True):
        runtime = RuntimeOptions(device="cuda", progress=False, seed=3, cuda_graphs=graphs)
        cfg = _config(epochs=4, eval_every=100, batch_size=32)
        runtime.apply()
        model = build_model(cfg.model, dataset.num_items, dataset.num_users)
        trainer = Trainer(model.to(gpu), dataset, cfg, runtime)
        losses = [trainer.train_epoch(epoch)["loss"] for epoch in range(1, 5)]  # 4 batches each
        results.append((losses, {n: p.detach().clone() for n, p in model.named_parameters()}))
    (eager_losses, eager), (graph_losses, graphed) = results
    assert graph_losses == pytest.approx(eager_losses, rel=1e-4)
    for name, value in eager.items():
        torch.testing.assert_close(graphed[name], value, rtol=1e-3, atol=1e-5, msg=name)


# epochs, the largest ratio of the last epoch's loss to the first's, the validation NDCG@10 to beat (an
# untrained model: ~0.08): eager training on the CPU reached 1.72 / 4.13, 0.97 (SASRec), 2.73 / 4.1, 0.90
# (SSE-PT), 1.65 / 4.1, 0.97 (TiSASRec) in 8 epochs; BERT4Rec's masked objective 3.45 / 4.09, 0.26 in 24
LEARNING = {
    "sasrec": (8, 0.8, 0.5),
    "ssept": (8, 0.8, 0.5),
    "tisasrec": (8, 0.8, 0.5),
    "bert4rec": (24, 0.9, 0.15),
}


@pytest.mark.parametrize("name", GRAPH_MODELS)
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_graphed_training_learns(
    dataset: SequenceDataset, gpu: torch.device, name: str, precision: str
) -> None:
    """With dropout (fresh masks in every replay) and under bf16 autocast, each model learns the walk as
    eager training does (``LEARNING``)."""
    epochs, loss_ratio, ndcg = LEARNING[name]
    model = SeqRec(
        model={"name": name, "max_len": 10, "hidden": 16, "dropout": 0.1},
        training={"epochs": epochs, "eval_every": 4, "loss": "ce", "lr": 0.01, "batch_size": 32},
        runtime=RuntimeOptions(device="cuda", progress=False, seed=7, precision=precision, cuda_graphs=True),
    ).fit(dataset)
    assert model.fit_result is not None
    losses = [row["loss"] for row in model.fit_result.history]
    assert losses[-1] < loss_ratio * losses[0], losses
    assert model.fit_result.best_metric > ndcg


@pytest.mark.parametrize("name", GRAPH_MODELS)
def test_every_objective_batch_fits_the_graph(
    dataset: SequenceDataset, quiet: RuntimeOptions, name: str
) -> None:
    """The batches each model's objective builds fit ``[batch_size, max_len]``, the last short one too."""
    cfg = _config(name, batch_size=32)
    trainer = Trainer(build_model(cfg.model, dataset.num_items, dataset.num_users), dataset, cfg, quiet)
    batches = list(trainer.objective.epoch(32, np.random.default_rng(0)))
    assert len(batches) == 4 and batches[-1].items.shape[0] < 32  # 120 users
    for batch in batches:
        padded = pad_batch(batch, 32, 10)
        assert int((padded.targets > 0).sum()) == int((batch.targets > 0).sum())
