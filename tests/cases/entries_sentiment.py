"""A many-to-one classifier with a class-number target, written by hand in PyTorch float64."""


def reference(torch):
    t = torch.tensor
    W_xh = t([[0.2, -0.4], [0.3, 0.1]], requires_grad=True)
    W_hh = t([[0.6, -0.2], [0.1, 0.5]], requires_grad=True)
    b_h = t([0.05, -0.05], requires_grad=True)
    W_hy = t([[0.4, -0.3], [0.1, 0.2], [-0.5, 0.6]], requires_grad=True)
    b_y = t([0.1, 0.0, -0.1], requires_grad=True)
    xs = [t([0.5, -1.0]), t([1.0, 0.25]), t([-0.5, 0.75])]
    h = torch.zeros(2)
    hs = []
    for x in xs:
        h = torch.tanh(W_xh @ x + W_hh @ h + b_h)
        hs.append(h)
    z = W_hy @ h + b_y
    p = torch.softmax(z, dim=0)
    L = -torch.log(p[2])  # class 3, 0-based 2
    gW_hh, gW_hy, gz, gh1 = torch.autograd.grad(L, (W_hh, W_hy, z, hs[0]))
    return {
        "L": L.item(),
        "pc": p[2].item(),
        "W_hh": gW_hh.tolist(),
        "W_hy21": gW_hy[1, 0].item(),
        "z": gz.tolist(),
        "h1": gh1.tolist(),
        "h1_2": gh1[1].item(),
    }
