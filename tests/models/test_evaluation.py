"""Evaluation: batched predictions equal a plain eval-mode forward, and feed losses and margins."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from memscope.models.cnn import make_cnn
from memscope.models.evaluation import logit_margins, predict


def test_predict_matches_a_plain_eval_forward_in_any_batching() -> None:
    torch.manual_seed(0)
    model = make_cnn(10, 1, 8)
    x = torch.randn(37, 1, 8, 8)
    model.eval()
    with torch.no_grad():
        expected = model(x)
    model.train()
    logits, pred = predict(model, x, batch_size=10)
    assert model.training  # the mode it was found in
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(pred, expected.argmax(1))


def test_predicted_logits_feed_losses_and_margins() -> None:
    torch.manual_seed(1)
    model = make_cnn(10, 1, 8)
    x, y = torch.randn(12, 1, 8, 8), torch.randint(0, 10, (12,))
    logits, pred = predict(model, x, batch_size=5)
    margins = logit_margins(logits, y)
    assert margins.shape == (12,)
    assert torch.equal(margins < 0, pred != y)  # negative margin = misclassified
    loss = F.cross_entropy(logits, y)
    assert torch.isfinite(loss)
