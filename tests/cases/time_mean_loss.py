def reference(torch):
    w = torch.tensor(0.5, requires_grad=True)
    v = torch.tensor(2.0, requires_grad=True)
    u = torch.tensor(1.0)
    x, y = [1.0, 0.5, -1.0, 0.0, 2.0], [0.5, 0.0, 0.25, -0.5, 1.0]
    T = 5
    h, hs, detached = torch.tensor(0.0), [], []
    for t in range(T):
        # truncated with K = 1: each step's loss sees only its own step (h[t-1] detached)
        detached.append(torch.tanh(w * h.detach() + u * x[t]))
        h = torch.tanh(w * h + u * x[t])
        h.retain_grad()
        hs.append(h)
    losses = [(v * h - y[t]) ** 2 for t, h in enumerate(hs)]
    L = sum(losses) / T
    gw, gv, gh2 = torch.autograd.grad(L, [w, v, hs[1]])
    trunc = sum((v * h - y[t]) ** 2 for t, h in enumerate(detached)) / T
    (gw1,) = torch.autograd.grad(trunc, w)
    return {"loss": L.item(), "dw": gw.item(), "dv": gv.item(), "dh2": gh2.item(),
            "scaled": (T * L).item(), "dw_k1": gw1.item()}
