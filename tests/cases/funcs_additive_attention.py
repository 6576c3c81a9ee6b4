def reference(torch):
    t = torch.tensor
    W_hh = t([[0.25, -0.5], [0.5, 0.25]], requires_grad=True)
    W_xh = t([[1.0, -0.5], [0.5, 1.0]])
    W = t([[1.0, 0.5], [-0.5, 1.0]], requires_grad=True)
    U = t([[0.5, 0.0], [0.0, -0.5]], requires_grad=True)
    s = t([1.0, 2.0], requires_grad=True)
    v = t([1.0, -1.0], requires_grad=True)
    r = t([1.0, 0.5])
    xs = [t([1.0, 0.0]), t([0.0, 1.0]), t([1.0, 1.0])]
    h, hs = t([0.0, 0.0]), []
    for x in xs:
        h = torch.tanh(W_hh @ h + W_xh @ x)
        hs.append(h)
    scores = torch.stack([v @ torch.tanh(W @ hh + U @ s) for hh in hs])
    alpha = torch.softmax(scores, 0)
    yhat = r @ sum(a * hh for a, hh in zip(alpha, hs))
    L = (yhat - 1.0) ** 2
    L.backward()
    return {"alpha": alpha.tolist(), "v": v.grad.tolist(), "W": W.grad.tolist(),
            "U": U.grad.tolist(), "s": s.grad.tolist(), "Whh": W_hh.grad.tolist()}
