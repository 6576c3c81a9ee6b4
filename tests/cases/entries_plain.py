"""Entries of a plain vector and matrix, written by hand in PyTorch float64."""


def reference(torch):
    W = torch.tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True)
    v = torch.tensor([1.0, -2.0], requires_grad=True)
    u = W @ v
    u.retain_grad()
    s = torch.tanh(u[0]) * v[1] + W[1, 0] * u[1]
    L = (s - 0.5) ** 2
    gv, gW = torch.autograd.grad(L, (v, W), retain_graph=True)
    gs_u = torch.autograd.grad(s, u, retain_graph=True)[0]
    # d(u, v[2]) and d(u, W[2][1]): entry i is that entry of the gradient of u[i]
    rows = [torch.autograd.grad(u[i], (v, W), retain_graph=True) for i in range(2)]
    return {
        "u2": u[1].item(),
        "s": s.item(),
        "L": L.item(),
        "v": gv.tolist(),
        "W": gW.tolist(),
        "W21": gW[1, 0].item(),
        "v2": gv[1].item(),
        "s_u": gs_u.tolist(),
        "expr": (v[0] * W[0, 1] + u[0]).item(),
        "u_v2": [gv_i[1].item() for gv_i, _ in rows],
        "u_W21": [gW_i[1, 0].item() for _, gW_i in rows],
    }
