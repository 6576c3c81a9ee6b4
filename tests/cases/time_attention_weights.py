def reference(torch):
    w = torch.tensor(0.5, requires_grad=True)
    q = torch.tensor(2.0, requires_grad=True)
    u, v, y = torch.tensor(1.0), torch.tensor(1.5), torch.tensor(1.0)
    x = [1.0, -0.5, 2.0]
    h, hs = torch.tensor(0.0), []
    for t in range(3):
        h = torch.tanh(w * h + u * x[t])
        h.retain_grad()
        hs.append(h)
    es = [q * h for h in hs]
    for e in es:
        e.retain_grad()
    Z = sum(torch.exp(e) for e in es)
    alphas = [torch.exp(e) / Z for e in es]
    c = sum(a * h for a, h in zip(alphas, hs))
    L = (v * c - y) ** 2 / 2
    gq, gw, ge2, gh1 = torch.autograd.grad(L, [q, w, es[1], hs[0]], retain_graph=True)
    (dalpha,) = torch.autograd.grad(alphas[0], es[2])
    return {"Z": Z.item(), "alpha2": alphas[1].item(), "loss": L.item(), "dq": gq.item(),
            "dw": gw.item(), "de2": ge2.item(), "dh1": gh1.item(), "dalpha": dalpha.item()}
