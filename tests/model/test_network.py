import pytest
import torch

from model.api import pad_batch
from model.config import POOLINGS, ModelConfig
from model.network import SentimentLSTM, init_embedding, reverse_within_lengths
from training.export import script


def make(pooling: str = "maxmean", **kw: object) -> SentimentLSTM:
    torch.manual_seed(0)
    return SentimentLSTM(
        ModelConfig(vocab_size=50, embedding_dim=6, hidden_size=8, pooling=pooling, **kw)
    ).eval()


def sequences() -> list[list[int]]:
    g = torch.Generator().manual_seed(1)
    return [torch.randint(2, 50, (n,), generator=g).tolist() for n in (13, 1, 7, 2, 13, 5)]


def test_reverse_within_lengths_keeps_padding_in_place() -> None:
    index = reverse_within_lengths(torch.tensor([3, 5, 1]), 5)
    assert index.tolist() == [[2, 1, 0, 3, 4], [4, 3, 2, 1, 0], [0, 1, 2, 3, 4]]


@pytest.mark.parametrize("pooling", POOLINGS)
def test_shapes(pooling: str) -> None:
    ids, lengths = pad_batch(sequences())
    logits = make(pooling)(ids, lengths)
    assert logits.shape == (6,) and logits.dtype == torch.float32


@pytest.mark.parametrize("pooling", POOLINGS)
@torch.inference_mode()
def test_padding_does_not_change_a_score(pooling: str) -> None:
    model = make(pooling)
    ids, lengths = pad_batch(sequences())
    batched = model(ids, lengths)
    for row, seq in enumerate(sequences()):
        alone = model(*pad_batch([seq]))
        assert abs(float(batched[row] - alone[0])) <= 1e-6
    extra_padding = torch.nn.functional.pad(ids, (0, 9))  # more padding than any batch-mate needs
    assert torch.allclose(model(extra_padding, lengths), batched, atol=1e-6)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_scripted_equals_eager(pooling: str) -> None:
    model = make(pooling)
    program = script(model)
    ids, lengths = pad_batch(sequences())
    assert torch.equal(program(ids, lengths), model(ids, lengths))
    assert torch.allclose(program.probabilities(ids, lengths), torch.sigmoid(model(ids, lengths)))


def test_zero_lengths_are_treated_as_one() -> None:
    model = make()
    ids = torch.tensor([[5, 0, 0]])
    assert torch.equal(model(ids, torch.tensor([0])), model(ids, torch.tensor([1])))


def test_temperature_scales_logits() -> None:
    model = make()
    ids, lengths = pad_batch(sequences())
    before = model(ids, lengths)
    model.temperature.fill_(2.0)
    assert torch.allclose(model(ids, lengths), before / 2)


def test_gradients_reach_every_parameter() -> None:
    model = make().train()
    ids, lengths = pad_batch(sequences())
    model(ids, lengths).sum().backward()
    missing = [
        n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert missing == []


def test_init_embedding_copies_vectors_and_zeroes_pad() -> None:
    model = make()
    vectors = torch.ones(50, 6)
    init_embedding(model, vectors)
    assert torch.equal(model.embedding.weight[1:], vectors[1:])
    assert torch.equal(model.embedding.weight[0], torch.zeros(6))
    with pytest.raises(ValueError, match="expected"):
        init_embedding(model, torch.ones(49, 6))


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="pooling"):
        ModelConfig(vocab_size=10, pooling="attention-ish")
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig(vocab_size=10, dropout=1.0)
    with pytest.raises(ValueError, match="vocab_size"):
        ModelConfig(vocab_size=1)
