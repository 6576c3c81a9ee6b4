def reference(torch):
    t = torch.tensor
    W_hh = t([[0.5, -0.25], [0.25, 0.5]], requires_grad=True)
    W_xh = t([[1.0, 0.5], [-0.5, 1.0]])
    b = t([0.1, -0.1], requires_grad=True)
    W_hy = t([[1.0, -1.0], [0.5, 0.5], [-1.0, 2.0]], requires_grad=True)
    xs = [t([1.0, 0.0]), t([0.0, 1.0]), t([1.0, -1.0])]
    classes = [0, 2, 1]
    h, hs, zs, losses = t([0.0, 0.0]), [], [], []
    for x, c in zip(xs, classes):
        h = torch.tanh(W_hh @ h + W_xh @ x + b)
        h.retain_grad()
        hs.append(h)
        z = W_hy @ h
        z.retain_grad()
        zs.append(z)
        losses.append(torch.nn.functional.cross_entropy(z.unsqueeze(0), t([c])))
    L = torch.stack(losses).mean()
    L.backward()
    return {"L": L.item(), "p2": torch.log_softmax(zs[1].detach(), 0).tolist(),
            "Why": W_hy.grad.tolist(), "Whh": W_hh.grad.tolist(), "b": b.grad.tolist(),
            "z2": zs[1].grad.tolist(), "h1": hs[0].grad.tolist()}
