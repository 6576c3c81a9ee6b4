def reference(torch):
    """Written by hand: the forward pass in float64, each k's derivative by autograd."""
    x = [1, -0.5, 0.75, 0, -1, 0.5, 1, -0.25]
    y = [0.5, 0, 0.5, 0, -0.5, 0, 0.5, 0]
    T = 8

    def run(w=torch.tensor(0.9), detach_before=None):
        hs = [torch.tensor(0.25, requires_grad=True)]
        for t in range(1, T + 1):
            prev = hs[-1]
            if detach_before is not None and t - 1 <= detach_before:
                prev = prev.detach().requires_grad_(True)
                hs[-1] = prev
            hs.append(torch.tanh(w * prev + 0.7 * x[t - 1]))
            hs[-1].retain_grad()
        return hs

    def d(out, inp):
        g = torch.autograd.grad(out, inp, retain_graph=True, allow_unused=True)[0]
        return 0.0 if g is None else g.item()

    hs = run()
    L = sum((hs[t] - y[t - 1]) ** 2 / 2 for t in range(1, T + 1))
    out = {
        "jac": [d(hs[T], hs[k]) for k in range(1, T + 1)],
        "from0": [d(hs[T], hs[k]) for k in range(0, T)],
        "delta": [d(L, hs[k]) for k in range(0, T + 1)],
        "local": [d(hs[k + 1], hs[k]) for k in range(1, T)],
        "states": [hs[k].item() for k in range(1, T + 1)],
    }
    w = torch.tensor(0.9, requires_grad=True)
    hw = run(w)
    out["bylossterm"] = [d((hw[k] - y[k - 1]) ** 2 / 2, w) for k in range(2, 6)]
    # truncated BPTT, K = 2: loss term t reaches back to h[t-1] only (h[t-2] is a constant),
    # so d(L, h[k]) collects the loss terms t = k and t = k + 1
    trunc = []
    for k in range(1, 5):
        total = 0.0
        for t in range(1, T + 1):
            ht = run(detach_before=t - 2)
            if k >= t - 1 and k <= t:
                total += d((ht[t] - y[t - 1]) ** 2 / 2, ht[k])
        trunc.append(total)
    out["trunc"] = trunc
    return out
