def reference(torch):
    t = torch.tensor
    W1 = t([[0.5, -0.25], [0.25, 0.5]], requires_grad=True)
    W2 = t([[-0.5, 0.5], [1.0, -0.25]], requires_grad=True)
    U1 = t([1.0, 0.5], requires_grad=True)
    U2 = t([1.0, -0.5])
    V = t([[1.0, -1.0], [0.5, 1.0]], requires_grad=True)
    xs = [1.0, -0.5, 2.0]
    ys = [t([1.0, 0.0]), t([0.5, 0.5]), t([0.0, 1.0])]
    h, hs, L = t([0.0, 0.0]), [], 0
    for x, y in zip(xs, ys):
        # torch.maximum splits the gradient evenly where the two pieces tie
        h = torch.maximum(W1 @ h + U1 * x, W2 @ h + U2 * x)
        h.retain_grad()
        hs.append(h)
        o = torch.nn.functional.softplus(V @ torch.maximum(h, t(0.5)))
        L = L + ((o - y) ** 2).mean()
    L.backward()
    out = {"h1": hs[0].tolist(), "L": L.item(), "W1": W1.grad.tolist(), "W2": W2.grad.tolist(),
           "U1": U1.grad.tolist(), "V": V.grad.tolist(), "h1g": hs[0].grad.tolist()}
    h1 = hs[0].detach().requires_grad_(True)
    h2 = torch.maximum(W1.detach() @ h1 + U1.detach() * xs[1], W2.detach() @ h1 + U2 * xs[1])
    out["J"] = [torch.autograd.grad(h2[i], h1, retain_graph=True)[0].tolist() for i in range(2)]
    return out
