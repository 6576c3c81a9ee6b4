"""The seeds' two-step scalar RNN, with a vector read only by the questions (PyTorch float64)."""


def reference(torch):
    W_h = torch.tensor(1.0, requires_grad=True)
    y1 = torch.tensor(5.0, requires_grad=True)
    v = torch.tensor([3.0, 4.0])
    h, L, yhat = torch.tensor(1.0), 0.0, []
    for t, y in enumerate([y1, torch.tensor(5.0)]):
        h = W_h * h + 0.1 * 10.0
        yhat.append(2.0 * h)
        L = L + (yhat[-1] - y) ** 2
    return {
        "a": (v[1] * yhat[1]).item(),
        "b": torch.autograd.grad(v[0] * L, W_h, retain_graph=True)[0].item(),
        "c": torch.autograd.grad(v[1] * L, y1)[0].item(),
    }
