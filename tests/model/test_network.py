import pytest
import torch

from model.batching import pad_batch
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
@pytest.mark.parametrize("stacking", ["joint", "separate"])
@torch.inference_mode()
def test_padding_does_not_change_a_score(pooling: str, stacking: str) -> None:
    model = make(pooling, stacking=stacking)
    ids, lengths = pad_batch(sequences())
    batched = model(ids, lengths)
    for row, seq in enumerate(sequences()):
        alone = model(*pad_batch([seq]))
        assert abs(float(batched[row] - alone[0])) <= 1e-6
    extra_padding = torch.nn.functional.pad(ids, (0, 9))  # more padding than any batch-mate needs
    assert torch.allclose(model(extra_padding, lengths), batched, atol=1e-6)


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("stacking", ["joint", "separate"])
def test_scripted_equals_eager(pooling: str, stacking: str) -> None:
    model = make(pooling, stacking=stacking)
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
    model.set_calibration([2.0], [])
    assert torch.allclose(model(ids, lengths), before / 2)


def test_temperatures_by_length_band() -> None:
    model = make()
    ids, lengths = pad_batch(sequences())  # lengths 13, 1, 7, 2, 13, 5
    before = model(ids, lengths)
    model.set_calibration([2.0, 3.0, 4.0], [2, 7])  # 1-2 tokens, 3-7, 8 and more
    divided = before / model(ids, lengths)
    assert divided.tolist() == pytest.approx([4.0, 2.0, 3.0, 2.0, 4.0, 3.0])
    program = script(model)
    assert torch.equal(program(ids, lengths), model(ids, lengths))
    with pytest.raises(ValueError, match="one temperature more"):
        model.set_calibration([1.0, 2.0], [])


@pytest.mark.parametrize("stacking", ["joint", "separate"])
def test_classify_from_embeddings_equals_forward(stacking: str) -> None:
    model = make(stacking=stacking)
    program = script(model)
    ids, lengths = pad_batch(sequences())
    embedded = program.embedding(ids)
    assert torch.equal(program.classify(embedded, lengths), program(ids, lengths))


def test_separate_stacks_never_see_the_other_direction() -> None:
    """The forward stack's state at t depends on tokens 0..t only; the backward one's on
    t..n-1 only: what lets each be pretrained as a language model."""
    model = make(stacking="separate")
    ids, lengths = pad_batch([list(range(2, 14))])
    changed = ids.clone()
    changed[0, 6] = 40
    reverse = reverse_within_lengths(lengths, 12).unsqueeze(2)
    with torch.no_grad():
        a = model.encoder.directions(model.embedding(ids), reverse)
        b = model.encoder.directions(model.embedding(changed), reverse)
    assert torch.equal(a[0][0, :6], b[0][0, :6]) and not torch.equal(a[0][0, 6:], b[0][0, 6:])
    assert torch.equal(a[1][0, 7:], b[1][0, 7:]) and not torch.equal(a[1][0, :7], b[1][0, :7])


def test_forget_gates_start_open() -> None:
    layer = make(stacking="separate").encoder.forward_stack.layers[0]
    h = layer.hidden_size
    bias = layer.bias_ih_l0 + layer.bias_hh_l0
    assert torch.all(bias[h : 2 * h] == 1.0)


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
