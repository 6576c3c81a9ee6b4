def reference(torch):
    a = torch.tensor(0.5, requires_grad=True)
    b = torch.tensor(-0.75, requires_grad=True)
    u = torch.tensor(1.0)
    x, y = [1.0, -1.0, 0.5, 2.0], [0.5, 0.0, -0.5, 1.0]

    def run(K=None, term=None):
        start = torch.tensor(-0.25, requires_grad=True)
        hs = {-1: start, 0: torch.tensor(0.5)}
        for t in range(1, 5):
            prev1, prev2 = hs[t - 1], hs[t - 2]
            if K is not None:  # loss term `term` back-propagates through steps term-K+1..term
                prev1 = prev1 if t - 1 > term - K else prev1.detach()
                prev2 = prev2 if t - 2 > term - K else prev2.detach()
            hs[t] = torch.tanh(a * prev1 + b * prev2 + u * x[t - 1])
        return hs, start

    hs, start = run()
    h1 = hs[1]
    h1.retain_grad()
    L = sum((hs[t] - y[t - 1]) ** 2 / 2 for t in range(1, 5))
    ga, gb, gs, gh1 = torch.autograd.grad(L, [a, b, start, h1])
    truncated = 0.0
    for t in range(1, 5):
        hs_t, _ = run(K=2, term=t)
        (g,) = torch.autograd.grad((hs_t[t] - y[t - 1]) ** 2 / 2, b)
        truncated += g.item()
    return {"h2": hs[2].item(), "loss": L.item(), "db": gb.item(), "da": ga.item(),
            "dstart": gs.item(), "dh1": gh1.item(), "db_k2": truncated}
