def reference(torch):
    t = torch.tensor
    W_hh = t([[0.5, -0.5], [0.25, 0.75]], requires_grad=True)
    W_xh = t([[1.0, 0.0], [0.5, 1.0]])
    q = t([1.0, -0.5], requires_grad=True)
    v = t([2.0, 1.0], requires_grad=True)
    xs = [t([1.0, 0.0]), t([0.5, -1.0]), t([-1.0, 2.0])]
    h, hs, es = t([0.0, 0.0]), [], []
    for x in xs:
        h = torch.tanh(W_hh @ h + W_xh @ x)
        h.retain_grad()
        hs.append(h)
        e = q @ h
        e.retain_grad()
        es.append(e)
    alpha = torch.softmax(torch.stack(es), 0)
    context = sum(a * hh for a, hh in zip(alpha, hs))  # c = sum_t alpha_t h_t
    yhat = v @ context
    L = (yhat - 0.5) ** 2 / 2
    L.backward()
    return {"alpha": alpha.tolist(), "L": L.item(), "q": q.grad.tolist(),
            "Whh": W_hh.grad.tolist(), "v": v.grad.tolist(), "h1": hs[0].grad.tolist(),
            "e3": es[2].grad.item()}
