def reference(torch):
    a, b = torch.tensor(0.5), torch.tensor(0.25, requires_grad=True)
    x, y = [1.0, -1.0, 0.5], [0.0, 1.0, 0.0]

    def grad(K=None):
        hs = [torch.tensor(0.5)]
        losses = []
        for t in range(3):
            h = a * hs[-1] + b * hs[-1] + x[t]
            hs.append(h)
            losses.append((h, t + 1))
        if K is None:
            L = sum((h - y[t - 1]) ** 2 / 2 for h, t in losses)
            return torch.autograd.grad(L, b)[0].item()
        # truncated: loss term t back-propagates through steps t-K+1..t only (h[t-K] is a constant)
        total = 0.0
        for _, t in losses:
            hs = [torch.tensor(0.5)]
            for s in range(1, t + 1):
                prev = hs[-1] if s - 1 > t - K else hs[-1].detach()
                hs.append(a * prev + b * prev + x[s - 1])
            total += torch.autograd.grad((hs[t] - y[t - 1]) ** 2 / 2, b)[0].item()
        return total

    return {"full": grad(), "k1": grad(1), "k2": grad(2)}
