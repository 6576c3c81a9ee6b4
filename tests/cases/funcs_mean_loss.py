def reference(torch):
    x, y = [1.0, 0.5, -1.0, 2.0], [0.5, 0.25, -0.5, 1.0]
    T = 4

    def forward(w, u, v, detach_before=None):
        """States h[1..T]; h[k] is detached for k <= detach_before (truncation)."""
        h, hs = torch.tensor(0.0), []
        for t in range(T):
            h = torch.tanh(w * h + u * x[t])
            if detach_before is not None and t + 1 <= detach_before:
                h = h.detach()
            hs.append(h)
        return hs

    def params():
        return (torch.tensor(0.75, requires_grad=True), torch.tensor(0.5, requires_grad=True),
                torch.tensor(2.0, requires_grad=True))

    out = {}
    w, u, v = params()
    hs = forward(w, u, v)
    hs[0].retain_grad()
    L = sum((v * h - yy) ** 2 for h, yy in zip(hs, y)) / T
    L.backward()
    out.update(L=L.item(), w=w.grad.item(), u=u.grad.item(), v=v.grad.item(),
               h1=hs[0].grad.item())
    out["m"] = (sum(2.0 * h - yy for h, yy in zip(hs, y)) / T).item()

    # J = mean over t of (v h_t - y_t)^2 + 0.01 w^2
    w, u, v = params()
    hs = forward(w, u, v)
    J = sum((v * h - yy) ** 2 for h, yy in zip(hs, y)) / T + 0.01 * w ** 2
    out["Jw"] = torch.autograd.grad(J, w)[0].item()

    def truncated(K, reg):
        total = 0.0
        for t in range(1, T + 1):
            w, u, v = params()
            hs = forward(w, u, v, detach_before=t - K)
            term = (v * hs[t - 1] - y[t - 1]) ** 2 / T
            total += torch.autograd.grad(term, w)[0].item()
        if reg:
            w = torch.tensor(0.75, requires_grad=True)
            total += torch.autograd.grad(0.01 * w ** 2, w)[0].item()
        return total

    out["w_k1"] = truncated(1, False)
    out["Jw_k2"] = truncated(2, True)
    return out
