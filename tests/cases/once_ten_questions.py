def reference(torch):
    W_hh = torch.tensor([[0.5, -0.25], [0.1, 0.3]], requires_grad=True)
    W_xh = torch.tensor([[1.0, 0.0], [0.5, 1.0]], requires_grad=True)
    W_y = torch.tensor([[1.0, -1.0]], requires_grad=True)
    b = torch.tensor([0.1, -0.2], requires_grad=True)
    xs = [torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0])]
    ys = [1.0, -1.0, 0.5]

    def run(cut=None):
        """The forward pass; ``cut`` = (t, K): h[t-K] is held constant (truncated BPTT)."""
        hs = [torch.tensor([0.5, -0.5])]
        for t in range(1, 4):
            prev = hs[-1]
            if cut is not None and t - 1 <= cut[0] - cut[1]:
                prev = prev.detach()
            hs.append(torch.tanh(W_hh @ prev + W_xh @ xs[t - 1] + b))
        yhat = [None] + [(W_y @ hs[t])[0] for t in range(1, 4)]
        losses = [None] + [(yhat[t] - ys[t - 1]) ** 2 / 2 for t in range(1, 4)]
        return hs, yhat, losses

    hs, yhat, losses = run()
    for h in hs[1:]:
        h.retain_grad()
    L = losses[1] + losses[2] + losses[3]
    gWhh, gWxh, gWy, gb, gh1 = torch.autograd.grad(L, [W_hh, W_xh, W_y, b, hs[1]],
                                                   retain_graph=True)
    jac = torch.stack([torch.autograd.grad(hs[3][i], hs[1], retain_graph=True)[0]
                       for i in range(2)])
    trunc = torch.zeros(2, 2)
    for t in range(1, 4):
        _, _, ls = run((t, 2))
        trunc = trunc + torch.autograd.grad(ls[t], W_hh)[0]
    rows = lambda m: m.tolist()  # noqa: E731
    return {"h3": hs[3].tolist(), "yhat2": yhat[2].item(), "loss": L.item(),
            "dWhh": rows(gWhh), "dWxh": rows(gWxh), "dWy": rows(gWy), "db": gb.tolist(),
            "dh1": gh1.tolist(), "jac": rows(jac), "trunc": rows(trunc)}
