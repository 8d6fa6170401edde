"""BERT4Rec: the cloze objective's rates, [MASK] appended at inference, the training loss on the target
positions only, the step LR schedule, replaced-item detection."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from seqrec import SeqRec
from seqrec.config import ConfigError, build_config
from seqrec.data.batch import SequenceBatch, TrainBatch
from seqrec.data.objectives import MaskedItem
from seqrec.models import BERT4Rec
from seqrec.models import bert4rec as bert4rec_module
from seqrec.models.base import SequenceModel
from seqrec.nn.adapters import insert_adapters
from seqrec.nn.attention import positions_from_end
from seqrec.nn.bert import pack_positions
from seqrec.nn.losses import make_loss
from tests.models.helpers import uniform_sequences

NUM_ITEMS = 1000


def test_masking_rates_and_80_10_10_split() -> None:
    seqs, train_end = uniform_sequences(users=400, length=50, num_items=NUM_ITEMS)
    objective = MaskedItem(seqs, train_end, max_len=50, num_items=NUM_ITEMS, mask_prob=0.15)
    rng = np.random.default_rng(0)
    rows = np.arange(400)
    original = seqs.items.reshape(400, 50)
    chosen_n = masked_n = random_n = kept_n = 0
    for _ in range(5):  # 100,000 positions, about 15,000 chosen
        batch = objective.make_batch(rows, rng)
        inputs, targets = batch.items.numpy(), batch.targets.numpy()
        chosen = targets > 0
        # loss only on chosen positions, whose target is the original item; the rest is untouched
        assert (targets[chosen] == original[chosen]).all()
        assert (inputs[~chosen] == original[~chosen]).all()
        chosen_n += chosen.sum()
        masked_n += (inputs[chosen] == NUM_ITEMS + 1).sum()
        random_n += ((inputs[chosen] != NUM_ITEMS + 1) & (inputs[chosen] != original[chosen])).sum()
        kept_n += (inputs[chosen] == original[chosen]).sum()
    assert chosen_n / 100_000 == pytest.approx(0.15, abs=0.006)
    assert masked_n / chosen_n == pytest.approx(0.8, abs=0.015)
    assert random_n / chosen_n == pytest.approx(0.1, abs=0.012)
    assert kept_n / chosen_n == pytest.approx(0.1, abs=0.012)  # includes random draws of the same item


def test_every_sequence_gets_at_least_one_masked_position() -> None:
    seqs, train_end = uniform_sequences(users=300, length=3, num_items=NUM_ITEMS)
    objective = MaskedItem(seqs, train_end, max_len=10, num_items=NUM_ITEMS, mask_prob=0.01)
    batch = objective.make_batch(np.arange(300), np.random.default_rng(1))
    per_row = (batch.targets > 0).sum(1)
    assert (per_row >= 1).all()
    # with p = 0.01 almost every row relies on the fallback, which picks each position about equally
    counts = (batch.targets > 0).sum(0).numpy()
    assert counts.min() > 60


def test_last_item_samples_mask_only_the_last_item_with_the_mask_token() -> None:
    """mask_last_prob: that share of windows is the paper's next-item sample (section 3.6): the last
    item becomes [MASK] (never a random or kept item) and is the window's only target; the other
    windows follow the cloze rates."""
    seqs, train_end = uniform_sequences(users=400, length=20, num_items=NUM_ITEMS)
    objective = MaskedItem(
        seqs, train_end, max_len=20, num_items=NUM_ITEMS, mask_prob=0.15, mask_last_prob=0.5
    )
    original = seqs.items.reshape(400, 20)
    batch = objective.make_batch(np.arange(400), np.random.default_rng(2))
    inputs, targets = batch.items.numpy(), batch.targets.numpy()
    last_only = (targets[:, :-1] == 0).all(1) & (targets[:, -1] > 0) & (inputs[:, -1] == NUM_ITEMS + 1)
    assert 0.4 < last_only.mean() < 0.6  # ~0.5, plus a few cloze windows that chose only the last item
    assert (targets[last_only, -1] == original[last_only, -1]).all()
    assert (inputs[last_only, :-1] == original[last_only, :-1]).all()  # the rest of the window untouched
    cloze = ~last_only
    assert ((targets[cloze] > 0).sum(1) >= 1).all()
    assert (targets[cloze] > 0).mean() == pytest.approx(0.15, abs=0.03)
    # every window: all of it or only the last item
    everything = MaskedItem(seqs, train_end, max_len=20, num_items=NUM_ITEMS, mask_last_prob=1.0)
    batch = everything.make_batch(np.arange(400), np.random.default_rng(3))
    assert (batch.targets[:, :-1] == 0).all() and (
        batch.targets[:, -1] == torch.from_numpy(original[:, -1])
    ).all()
    assert (batch.items[:, -1] == NUM_ITEMS + 1).all()


def test_mask_last_prob_out_of_range_is_rejected() -> None:
    seqs, train_end = uniform_sequences(users=4, length=5, num_items=NUM_ITEMS)
    with pytest.raises(ValueError, match="mask_last_prob"):
        MaskedItem(seqs, train_end, max_len=5, num_items=NUM_ITEMS, mask_last_prob=1.5)


def _model() -> BERT4Rec:
    torch.manual_seed(0)
    return BERT4Rec(20, max_len=5, hidden=8, blocks=1, heads=2, dropout=0.0).eval()


def test_inference_appends_mask_and_keeps_max_len() -> None:
    model = _model()
    items = torch.tensor([[0, 3, 4, 5], [6, 7, 8, 9]])
    batch = SequenceBatch(items, torch.tensor([1, 2]), torch.zeros_like(items))
    with torch.no_grad():
        state = model.user_state(batch)
        mask = torch.full((2, 1), 21)
        appended = SequenceBatch(torch.cat([items, mask], 1), batch.users, torch.zeros(2, 5).long())
        assert torch.allclose(state, model.encode(appended)[:, -1], atol=1e-6)
        # a history that already fills max_len (5) loses its oldest item to the mask
        full = SequenceBatch(torch.tensor([[1, 6, 7, 8, 9]]), torch.tensor([1]), torch.zeros(1, 5).long())
        assert torch.allclose(model.user_state(full), state[1:], atol=1e-6)
    assert model.item_table().shape == (21, 9)  # items 0..20 (no mask row) + the output bias column


def test_output_state_is_layer_normalised_as_in_the_authors_code() -> None:
    """The state dotted with the item table is LN(GELU(H W_P + b_P)) (the authors' masked-LM head, as in
    RecBole), then the constant 1 for the output bias: with the norm's unit weight and zero bias, each
    real position's D values have mean 0 and variance 1."""
    model = _model()
    items = torch.tensor([[0, 3, 4, 21], [6, 7, 8, 21]])
    batch = SequenceBatch(items, torch.tensor([1, 2]), torch.zeros_like(items))
    with torch.no_grad():
        state = model.encode(batch)
    h = state[..., :-1][items > 0]  # [7, D]: the real positions
    assert torch.allclose(state[..., -1], torch.ones(2, 4))
    torch.testing.assert_close(h.mean(-1), torch.zeros(7), atol=1e-5, rtol=0)
    torch.testing.assert_close(h.var(-1, unbiased=False), torch.ones(7), atol=1e-3, rtol=0)
    with torch.no_grad():
        model.head_norm.weight.fill_(2.0)
        model.head_norm.bias.fill_(0.5)
        moved = model.encode(batch)[..., :-1]
    moved = moved[items > 0]
    torch.testing.assert_close(moved, 2.0 * h + 0.5)


def test_pack_positions_packs_each_rows_picks_to_the_left() -> None:
    picks = torch.tensor([[0, 1, 0, 1, 1], [0, 0, 0, 0, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    index, flat = pack_positions(picks)
    # Q = 3 (the first row's picks); the slots after a row's picks hold its last position
    assert index.tolist() == [[1, 3, 4], [4, 4, 4], [0, 4, 4]]
    assert flat.tolist() == [0, 1, 2, 3, 6]  # row-major, as picks.nonzero()
    assert (index.view(-1)[flat] == picks.nonzero()[:, 1]).all()
    empty_index, empty_flat = pack_positions(torch.zeros(2, 4, dtype=torch.bool))
    assert empty_index.shape == (2, 1) and empty_flat.numel() == 0


@pytest.mark.parametrize("loss_name", ["ce", "sampled_softmax"])
@pytest.mark.parametrize("adapters", [False, True])
def test_training_loss_on_target_positions_only_equals_the_full_encoding(
    loss_name: str, adapters: bool, device: torch.device
) -> None:
    """Only the positions with a target pass the last layer and the head in training; the loss and every
    parameter's gradient equal those of the contract's path, which encodes every position."""
    torch.manual_seed(1)
    model = BERT4Rec(30, max_len=6, hidden=8, blocks=2, heads=2, dropout=0.0)
    if adapters:
        insert_adapters(model, 4)
        for name, param in model.named_parameters():
            if "adapter.up" in name:  # not the identity: the adapters take part
                torch.nn.init.normal_(param, std=0.5)
    model.to(device).train()  # with its adapters
    items = torch.tensor([[0, 0, 3, 31, 5, 31], [4, 31, 6, 7, 8, 9], [0, 0, 0, 0, 2, 31]])
    targets = torch.tensor([[0, 0, 0, 4, 0, 6], [0, 5, 0, 0, 0, 10], [0, 0, 0, 0, 0, 3]])
    batch = TrainBatch(
        items=items,
        users=torch.tensor([1, 2, 3]),
        timestamps=torch.zeros_like(items),
        targets=targets,
        negatives=torch.randint(1, 31, (3, 6, 4)) * (targets > 0)[..., None],
    )
    loss = make_loss(loss_name, num_items=30, num_negatives=4)
    values, grads = [], []
    for path in (SequenceModel.training_loss, BERT4Rec.training_loss):
        model.zero_grad()
        value = path(model, batch.to(device), loss)
        value.backward()
        values.append(value.detach())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    torch.testing.assert_close(values[1], values[0], rtol=1e-5, atol=1e-6)
    assert grads[1].keys() == grads[0].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6, msg=name)


def test_step_lr_schedule(dataset, one_thread) -> None:
    model = SeqRec(
        model={"name": "bert4rec", "max_len": 10, "hidden": 8},
        training={"epochs": 3, "eval_every": 10, "lr": 0.01, "lr_step_epochs": 1, "loss": "ce"},
        runtime=one_thread,
    ).fit(dataset)
    assert model.fit_result is not None
    lrs = [row["lr"] for row in model.fit_result.history]
    assert lrs == pytest.approx([0.01, 0.001, 0.0001])


def _rtd_model() -> BERT4Rec:
    torch.manual_seed(3)
    return BERT4Rec(30, max_len=6, hidden=8, blocks=2, heads=2, dropout=0.0, rtd_weight=2.0).eval()


# two windows; the cloze objective masked positions 3 and 5 of the first, 1 of the second (item 31:
# [MASK]; position 1 of the second kept its item, as 10% of the chosen ones do)
RTD_ITEMS = torch.tensor([[0, 0, 3, 31, 5, 31], [0, 4, 9, 7, 8, 9]])
RTD_TARGETS = torch.tensor([[0, 0, 0, 4, 0, 6], [0, 4, 0, 0, 0, 0]])
RTD_ORIGINAL = torch.tensor([[0, 0, 3, 4, 5, 6], [0, 4, 9, 7, 8, 9]])


def _discriminator_bce(model: BERT4Rec, corrupted: Tensor, replaced: Tensor) -> Tensor:
    """The discriminator's mean BCE on ``corrupted`` windows, from the encoder and head directly."""
    real = corrupted > 0
    h = model.encoder(
        model.emb_norm(model.item_emb(corrupted) + model.pos_emb(positions_from_end(real))), real
    )
    logit = model.discriminator(h[real]).squeeze(-1)  # type: ignore[misc]
    return F.binary_cross_entropy_with_logits(logit, replaced[real].float())


def test_replaced_items_are_drawn_from_the_generators_softmax_over_the_batchs_masked_items() -> None:
    """Every draw picks the masked item the generator scores far above the others (item 6 here); the
    corrupted window is the original one (not the [MASK]ed input) with the draws at the masked positions,
    and only the positions whose item changed are labelled replaced."""
    model = _rtd_model()
    table = torch.zeros(31, 9)
    table[4, 0] = table[6, 1] = 1.0  # e'_4 = u_0, e'_6 = u_1
    states = torch.zeros(3, 9)
    states[:, 1] = 100.0  # g_t . e'_6 = 100 at every masked position, g_t . e'_4 = 0
    value = model.replaced_item_loss(RTD_ITEMS, RTD_TARGETS, states, table)
    corrupted = torch.tensor([[0, 0, 3, 6, 5, 6], [0, 6, 9, 7, 8, 9]])
    replaced = corrupted != RTD_ORIGINAL  # the first window's position 3, the second's position 1
    assert replaced.sum() == 2
    torch.testing.assert_close(value, _discriminator_bce(model, corrupted, replaced))


def test_a_draw_of_the_true_item_counts_as_original() -> None:
    """Where every masked position held the same item, every draw returns it: nothing is replaced."""
    model = _rtd_model()
    targets = torch.tensor([[0, 0, 0, 4, 0, 4], [0, 4, 0, 0, 0, 0]])
    original = torch.where(targets > 0, targets, RTD_ITEMS)
    value = model.replaced_item_loss(RTD_ITEMS, targets, torch.randn(3, 9), model.item_table().detach())
    torch.testing.assert_close(
        value, _discriminator_bce(model, original, torch.zeros_like(original, dtype=torch.bool))
    )


def test_replaced_item_detection_adds_lambda_times_its_loss_and_trains_the_encoder() -> None:
    """The training loss is the cloze loss plus rtd_weight times the discriminator's (the same draws for
    the same seed); its gradient reaches the encoder, the item table and the discriminator's head."""
    model = _rtd_model().train()
    batch = TrainBatch(
        items=RTD_ITEMS,
        users=torch.tensor([1, 2]),
        timestamps=torch.zeros_like(RTD_ITEMS),
        targets=RTD_TARGETS,
    )
    loss = make_loss("ce", num_items=30, num_negatives=0)
    torch.manual_seed(5)
    total = model.training_loss(batch, loss)
    model.rtd_weight = 0.0  # the cloze loss alone (dropout is off: the same states)
    cloze = model.training_loss(batch, loss)
    model.rtd_weight = 2.0
    torch.manual_seed(5)
    states = model.encode(batch, picks=RTD_TARGETS > 0).detach()
    rtd = model.replaced_item_loss(RTD_ITEMS, RTD_TARGETS, states, model.item_table().detach())
    torch.testing.assert_close(total, cloze + 2.0 * rtd)
    model.zero_grad()
    total.backward()
    for name in (
        "discriminator.0.weight",
        "discriminator.2.weight",
        "encoder.layers.0.fc1.weight",
        "item_emb.weight",
    ):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_rtd_weight_is_validated_and_belongs_to_bert4rec() -> None:
    with pytest.raises(ConfigError, match="rtd_weight"):
        build_config({"data": {}, "model": {"name": "bert4rec", "rtd_weight": -1}})
    with pytest.raises(ConfigError, match="rtd_weight"):
        build_config({"data": {}, "model": {"name": "sasrec", "rtd_weight": 1}})
    assert BERT4Rec(30, max_len=6, hidden=8, blocks=1, heads=2, dropout=0.0).discriminator is None


def test_replaced_item_detection_trains_and_its_run_reloads(dataset, one_thread, tmp_path) -> None:
    model = SeqRec(
        model={"name": "bert4rec", "max_len": 10, "hidden": 16, "rtd_weight": 10.0},
        training={"epochs": 2, "eval_every": 1, "lr": 0.01, "loss": "ce"},
        runtime=one_thread,
    ).fit(dataset)
    assert model.fit_result is not None and all(np.isfinite(h["loss"]) for h in model.fit_result.history)
    again = SeqRec.load(model.save(tmp_path / "saved"))
    assert again.model is not None and model.model is not None
    for key, value in model.model.state_dict().items():
        torch.testing.assert_close(again.model.state_dict()[key], value, msg=key)
    assert any(key.startswith("discriminator.") for key in again.model.state_dict())
    assert again.evaluate("test")["NDCG@10"] == model.evaluate("test")["NDCG@10"]


@pytest.mark.parametrize("cells", [bert4rec_module.POOL_CELLS, 7])
def test_draws_follow_the_softmax_over_the_pools_entries(monkeypatch: pytest.MonkeyPatch, cells: int) -> None:
    """Pool (2, 2, 2, 5, 7) with scores 0, log 3, 0: item 2 has three entries of weight 1, item 5 one of
    weight 3, item 7 one of weight 1, so 3/7, 3/7, 1/7; the same when the scores are formed a few rows at a
    time."""
    monkeypatch.setattr(bert4rec_module, "POOL_CELLS", cells)
    torch.manual_seed(0)
    table = torch.zeros(8, 2)
    table[5, 0] = float(np.log(3.0))
    states = torch.zeros(30_000, 2)
    states[:, 0] = 1.0
    drawn = bert4rec_module.draw_from_pool(states, table, torch.tensor([2, 7, 2, 5, 2]))
    share = {i: (drawn == i).float().mean().item() for i in (2, 5, 7)}
    assert share[2] + share[5] + share[7] == pytest.approx(1.0)
    assert share[2] == pytest.approx(3 / 7, abs=0.012) and share[5] == pytest.approx(3 / 7, abs=0.012)
    assert share[7] == pytest.approx(1 / 7, abs=0.01)


def test_the_discriminators_pass_leaves_the_cloze_gradients_as_they_are() -> None:
    """The encoder runs twice in a step (the generator's pass, then the discriminator's on the corrupted
    windows): as lambda goes to 0, every shared weight's gradient must tend to the cloze objective's, with
    dropout on (the generator's masks are drawn first either way). A second pass that overwrote what the
    first saved for its backward would break this."""
    torch.manual_seed(0)
    num_items, length = 300, 50
    items = torch.randint(1, num_items + 1, (64, length))
    targets = torch.where(torch.rand(64, length) < 0.2, items, 0)
    items = torch.where(targets > 0, num_items + 1, items)
    batch = TrainBatch(
        items=items, users=torch.arange(64) + 1, timestamps=torch.zeros_like(items), targets=targets
    )
    loss = make_loss("ce", num_items=num_items, num_negatives=0)
    torch.manual_seed(1)
    model = BERT4Rec(
        num_items, max_len=length, hidden=32, blocks=2, heads=2, dropout=0.1, rtd_weight=1.0
    ).train()
    grads = []
    for weight in (0.0, 1e-9):
        model.rtd_weight = weight
        model.zero_grad()
        torch.manual_seed(2)
        model.training_loss(batch, loss).backward()
        grads.append(
            {
                n: p.grad.clone()
                for n, p in model.named_parameters()
                if p.grad is not None and "discriminator" not in n
            }
        )
    assert grads[0].keys() == grads[1].keys()
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=1e-5, atol=1e-7, msg=name)


def test_an_empty_pool_draws_nothing() -> None:
    table = torch.zeros(5, 3)
    empty = torch.zeros(0, dtype=torch.long)
    assert bert4rec_module.draw_from_pool(torch.zeros(0, 3), table, empty).numel() == 0
    with pytest.raises(ValueError, match="2 states to draw for from an empty pool"):
        bert4rec_module.draw_from_pool(torch.zeros(2, 3), table, empty)
