from pathlib import Path

import numpy as np
import pytest
import torch

from model.batching import buckets_per_epoch, shuffled_buckets
from model.config import ModelConfig
from model.network import SentimentLSTM
from tests import synthetic
from tests.precision import needs_native_bf16, pretend_cpu
from training.config import TrainConfig, config_dict
from training.corpus import Encoded
from training.errors import UserError
from training.loop import fit

CFG = TrainConfig(
    epochs=3, batch_size=8, lr=5e-3, patience=5, device="cpu", precision="fp32", seed=5
)


def padding(batches: list, lengths: list[int]) -> int:
    return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in batches)


def test_buckets_cover_every_review_once_with_little_padding() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 500, size=1000).tolist()
    batches = shuffled_buckets(lengths, batch_size=32, pool=10, rng=np.random.default_rng(1))
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(1000))
    unbucketed = np.array_split(rng.permutation(1000), 1000 // 32)
    assert padding(batches, lengths) < padding(unbucketed, lengths) / 5


def test_bucket_order_is_seeded() -> None:
    lengths = list(range(100))
    a = shuffled_buckets(lengths, 8, 4, np.random.default_rng(3))
    b = shuffled_buckets(lengths, 8, 4, np.random.default_rng(3))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def data(n: int, seed: int) -> Encoded:
    words = {
        w: i + 2 for i, w in enumerate(synthetic.POSITIVE + synthetic.NEGATIVE + synthetic.FILLER)
    }
    rows = synthetic.reviews(n, seed)
    ids = [[words.get(w.strip(".").lower(), 1) for w in text.split()] for text, _ in rows]
    return Encoded(ids, np.array([y for _, y in rows]))


def new_model() -> SentimentLSTM:
    torch.manual_seed(0)
    # Locked dropout of 0.4 on a 6-wide embedding hides too much for 128 reviews to teach.
    config = ModelConfig(vocab_size=40, embedding_dim=6, hidden_size=8, embedding_dropout=0.1)
    return SentimentLSTM(config)


def test_same_seed_same_weights(tmp_path: Path) -> None:
    models = []
    for run in ("a", "b"):
        model = new_model()
        fit(model, data(48, 0), data(16, 1), CFG, tmp_path / run, run_id="x")
        models.append(model.state_dict())
    assert all(torch.equal(models[0][k], models[1][k]) for k in models[0])


@pytest.mark.parametrize("adversarial", [0.0, 0.3])
def test_interrupted_run_resumes_to_the_same_weights(tmp_path: Path, adversarial: float) -> None:
    cfg = TrainConfig(**{**CFG.__dict__, "adversarial": adversarial})
    whole = new_model()
    fit(whole, data(48, 0), data(16, 1), cfg, tmp_path / "whole", run_id="x")

    def interrupt_after_first(row: dict) -> None:
        if row["epoch"] == 1:
            raise KeyboardInterrupt

    resumed = new_model()
    with pytest.raises(KeyboardInterrupt):
        fit(
            resumed,
            data(48, 0),
            data(16, 1),
            cfg,
            tmp_path / "run",
            run_id="x",
            on_epoch=interrupt_after_first,
        )
    resumed = new_model()  # a fresh process: nothing survives but the checkpoint
    result = fit(resumed, data(48, 0), data(16, 1), cfg, tmp_path / "run", run_id="x", resume=True)
    assert result.epochs_run == 3 and [r["epoch"] for r in result.history] == [1, 2, 3]
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_checkpoint_guards(tmp_path: Path) -> None:
    fit(new_model(), data(16, 0), data(8, 1), CFG, tmp_path, run_id="x")
    with pytest.raises(UserError, match="--resume"):
        fit(new_model(), data(16, 0), data(8, 1), CFG, tmp_path, run_id="x")
    with pytest.raises(UserError, match="another run|other data"):
        fit(new_model(), data(16, 0), data(8, 1), CFG, tmp_path, run_id="y", resume=True)
    with pytest.raises(UserError, match="no checkpoint"):
        fit(new_model(), data(16, 0), data(8, 1), CFG, tmp_path / "empty", run_id="x", resume=True)


def test_early_stopping_keeps_the_best_epoch(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=30, batch_size=8, lr=5e-3, patience=1, device="cpu", precision="fp32")
    result = fit(new_model(), data(48, 0), data(16, 1), cfg, tmp_path, run_id="x")
    assert result.epochs_run < 30 and result.epochs_run == result.best_epoch + 1
    assert result.best_accuracy == max(r["val_accuracy"] for r in result.history)


@needs_native_bf16
def test_bf16_autocast_trains(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=2, batch_size=8, device="cpu", precision="bf16")
    model = new_model()
    fit(model, data(32, 0), data(8, 1), cfg, tmp_path, run_id="x")
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay fp32


def test_explicit_bf16_is_refused_where_the_cpu_has_no_native_bf16(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pretend_cpu(monkeypatch, native_bf16=False)
    cfg = TrainConfig(epochs=1, batch_size=8, device="cpu", precision="bf16")
    with pytest.raises(UserError, match="no native bf16; use auto or fp32"):
        fit(new_model(), data(16, 0), data(8, 1), cfg, tmp_path, run_id="x")


def test_bad_settings() -> None:
    with pytest.raises(UserError, match="precision"):
        TrainConfig(precision="int4")
    with pytest.raises(UserError, match="epochs"):
        TrainConfig(epochs=0)
    for softness in (-0.1, 0.5):
        with pytest.raises(UserError, match="rating_softness"):
            TrainConfig(rating_softness=softness)


def test_settings_added_later_are_left_out_at_their_old_behaviour() -> None:
    """A run made before `split_seed` or `rating_softness` existed keeps its fingerprint."""
    settings = config_dict(TrainConfig())
    assert "split_seed" not in settings and "rating_softness" not in settings
    chosen = config_dict(TrainConfig(split_seed=0, rating_softness=0.2))
    assert chosen["split_seed"] == 0 and chosen["rating_softness"] == 0.2


def test_word_dropout_hides_words_from_training(tmp_path: Path) -> None:
    """With nearly every word replaced by <unk>, nothing can be learned; with none, it can."""
    results = {}
    for p in (0.0, 0.99):
        cfg = TrainConfig(
            epochs=12,
            batch_size=8,
            lr=2e-2,
            patience=12,
            device="cpu",
            precision="fp32",
            word_dropout=p,
        )
        results[p] = fit(
            new_model(), data(128, 0), data(32, 1), cfg, tmp_path / str(p), run_id="x"
        ).best_accuracy
    assert results[0.0] >= 0.9 and results[0.99] <= 0.7
    with pytest.raises(UserError, match="word_dropout"):
        TrainConfig(word_dropout=1.0)


def test_the_schedule_counts_the_batches_spans_add(tmp_path: Path) -> None:
    """The learning rate reaches zero at the end of the last epoch, spans or not."""
    from training.config import SpanConfig

    for rate in (0.0, 1.5):
        cfg = TrainConfig(
            epochs=2, batch_size=8, device="cpu", precision="fp32", spans=SpanConfig(rate=rate)
        )
        result = fit(new_model(), data(100, 0), data(16, 1), cfg, tmp_path / str(rate), "x")
        lrs = [row["lr"] for row in result.history]
        assert lrs[0] > 0.3 * cfg.lr and lrs[-1] == 0.0, (rate, lrs)


def test_batches_per_epoch_matches_the_buckets() -> None:
    for n, size, pool in [(22_500, 64, 50), (100, 8, 3), (7, 8, 50), (3201, 64, 50)]:
        made = shuffled_buckets([5] * n, size, pool, np.random.default_rng(0))
        assert buckets_per_epoch(n, size, pool) == len(made), (n, size, pool)


def test_the_adversarial_push_raises_the_loss_within_its_budget() -> None:
    """Each text is pushed as a whole by epsilon mean word norms, along its loss gradient (so
    the loss rises more than for a random push of the same size), and its padding not at all."""
    from training.adversarial import adversarial_push, batch_loss

    model = new_model()
    model.eval()
    ids = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 10, 0, 0]])
    lengths = torch.tensor([5, 3])
    target = torch.tensor([1.0, 0.0])
    cpu = torch.device("cpu")
    embedded = model.embedding(ids)
    embedded.retain_grad()
    clean = batch_loss(model, embedded, lengths, target, cpu, "fp32")
    clean.backward()
    push = adversarial_push(embedded.detach(), embedded.grad, ids, 0.5)

    word_norm = embedded.detach().norm(dim=2)[ids != 0].mean()
    assert torch.allclose(push.flatten(1).norm(dim=1), 0.5 * word_norm.expand(2), rtol=1e-5)
    assert torch.count_nonzero(push[1, 3:]) == 0  # padding
    with torch.no_grad():
        pushed = batch_loss(model, embedded + push, lengths, target, cpu, "fp32")
        noise = torch.randn_like(push) * (ids != 0).unsqueeze(2)
        noise = noise / noise.flatten(1).norm(dim=1).view(-1, 1, 1) * 0.5 * word_norm
        random = batch_loss(model, embedded + noise, lengths, target, cpu, "fp32")
    assert pushed > random and pushed > clean


def test_adversarial_training_trains(tmp_path: Path) -> None:
    """A run with adversarial training learns and differs from one without (resuming it is
    tested with the other runs' resume)."""
    cfg = TrainConfig(epochs=12, batch_size=8, lr=2e-2, patience=12, device="cpu", precision="fp32")
    adversarial = TrainConfig(**{**cfg.__dict__, "adversarial": 0.3})
    plain, pushed = new_model(), new_model()
    fit(plain, data(128, 0), data(32, 1), cfg, tmp_path / "plain", run_id="x")
    result = fit(pushed, data(128, 0), data(32, 1), adversarial, tmp_path / "at", run_id="x")
    assert result.best_accuracy >= 0.9
    weight = "head.weight"
    assert not torch.equal(plain.state_dict()[weight], pushed.state_dict()[weight])

    with pytest.raises(UserError, match="adversarial"):
        TrainConfig(adversarial=-1.0)
