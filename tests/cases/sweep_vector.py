def reference(torch):
    """Written by hand: the forward pass in float64; each k's Jacobian or gradient by
    autograd, then its norm: torch.linalg.matrix_norm(J, ord=2) (the largest singular value)
    for a matrix, torch.linalg.vector_norm for a vector."""
    T = 6
    W = torch.tensor([[0.9, -0.6, 0.2], [0.5, 1.1, -0.3], [0.1, 0.4, 0.8]], requires_grad=True)
    U = torch.tensor([[0.5, -0.5], [1, 0.25], [-0.75, 0.5]])
    b = torch.tensor([0.1, 0, -0.1])
    V = torch.tensor([[1, -1, 0.5]])
    xs = [torch.tensor(v, requires_grad=True)
          for v in ([1., 0], [0., 1], [1., 1], [-1., 0.5], [0.5, -1], [0., 0])]
    ys = [1, 0, -1, 0.5, 0, 1]
    hs = [torch.tensor([0.1, -0.2, 0.3], requires_grad=True)]
    for t in range(T):
        hs.append(torch.tanh(W @ hs[-1] + U @ xs[t] + b))
    losses = [((V @ hs[t + 1]) - ys[t]).pow(2).sum() for t in range(T)]
    L = sum(losses)

    def jac(out, inp):
        rows = []
        for i in range(out.numel()):
            g = torch.autograd.grad(out[i], inp, retain_graph=True, allow_unused=True)[0]
            rows.append(torch.zeros_like(inp) if g is None else g)
        return torch.stack(rows)

    def grad(out, inp):
        return torch.autograd.grad(out, inp, retain_graph=True)[0]

    spectral = lambda m: torch.linalg.matrix_norm(m, ord=2).item()  # noqa: E731
    euclid = lambda v: torch.linalg.vector_norm(v).item()  # noqa: E731
    return {
        "jac": [spectral(jac(hs[T], hs[k])) for k in range(1, T + 1)],
        "grad": [euclid(grad(L, hs[k])) for k in range(0, T + 1)],
        "inputs": [euclid(grad(L, xs[k - 1])) for k in range(1, T + 1)],
        "pairs": [spectral(jac(hs[k + 2], hs[k])) for k in range(1, T - 1)],
        "states": [euclid(hs[k]) for k in range(2, T + 1)],
        "weight": [spectral(grad(losses[k - 1], W)) for k in range(1, 4)],
    }
