"""A vector RNN read out through one entry, written by hand in PyTorch float64."""


def reference(torch):
    W = torch.tensor([[0.8, -0.3], [0.2, 0.6]], requires_grad=True)
    U = torch.tensor([1.0, -1.0], requires_grad=True)
    xs, ys = [1.0, 0.5, -1.0], [0.3, 0.1, -0.2]

    def run(cut=None):
        """States h[1..3]; with cut = k, h[k] and before are constants (truncation)."""
        h = torch.tensor([0.5, -0.5])
        hs = []
        for t in range(3):
            if cut is not None and t <= cut:  # h[t] (0-based list index t is step t) is cut
                h = h.detach()
            h = torch.tanh(W @ h + U * xs[t])
            h.retain_grad()
            hs.append(h)
        return hs

    hs = run()
    L = sum((hs[t][0] - ys[t]) ** 2 for t in range(3)) + hs[2][1] ** 2
    gW, gh1 = torch.autograd.grad(L, (W, hs[0]))
    # truncate: 1: each loss term reaches back through its own step only.  The terms are
    # (yhat[t] - y[t])**2 for t = 1..3 (horizon t) and h[T][2]**2 (horizon 3).
    gU = torch.zeros(2)
    for t in range(3):
        hs_t = run(cut=t)
        gU += torch.autograd.grad((hs_t[t][0] - ys[t]) ** 2, U)[0]
    hs_t = run(cut=2)
    gU += torch.autograd.grad(hs_t[2][1] ** 2, U)[0]
    return {
        "yhat2": hs[1][0].item(),
        "hT2": hs[2][1].item(),
        "L": L.item(),
        "W": gW.tolist(),
        "W12": gW[0, 1].item(),
        "h1": gh1.tolist(),
        "U2": gU[1].item(),
    }
