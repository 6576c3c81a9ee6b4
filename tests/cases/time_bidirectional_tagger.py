def reference(torch):
    t = torch.tensor
    W_f = t([[0.5, -0.25], [0.25, 0.5]], requires_grad=True)
    U_f = t([[1.0, 0.0], [0.0, 1.0]])
    W_b = t([[0.25, 0.5], [-0.5, 0.25]], requires_grad=True)
    U_b = t([[0.5, 1.0], [1.0, -0.5]], requires_grad=True)
    V_f = t([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]])
    V_b = t([[0.5, -0.5], [1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    c = t([0.1, 0.0, -0.1])
    xs = [t(v) for v in ([1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5])]
    ys = [t(v) for v in ([1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0, 1.0, 0])]
    T = 4
    h = t([0.0, 0.0])
    hs = []
    for k in range(T):  # forward direction, t = 1..T
        h = torch.tanh(W_f @ h + U_f @ xs[k])
        hs.append(h)
    start = t([0.5, -0.5], requires_grad=True)
    hb, hbs = start, [None] * T
    for k in reversed(range(T)):  # backward direction, t = T..1
        hb = torch.tanh(W_b @ hb + U_b @ xs[k])
        hb.retain_grad()
        hbs[k] = hb
    ps = [torch.softmax(V_f @ hs[k] + V_b @ hbs[k] + c, dim=0) for k in range(T)]
    L = sum(-(ys[k] * torch.log(ps[k])).sum() for k in range(T))
    gWb, gUb, gVb, gWf, ghb2, gstart = torch.autograd.grad(
        L, [W_b, U_b, V_b, W_f, hbs[1], start])
    jac = torch.autograd.functional.jacobian(
        lambda h3: torch.tanh(W_b @ torch.tanh(W_b @ h3 + U_b @ xs[1]) + U_b @ xs[0]),
        hbs[2].detach())

    def rows(m):
        return [[float(v) for v in row] for row in m]

    return {"p2": [float(v) for v in ps[1].detach()], "loss": L.item(), "dWb": rows(gWb),
            "dUb": rows(gUb), "dVb": rows(gVb), "dWf": rows(gWf),
            "dhb2": [float(v) for v in ghb2], "dstart": [float(v) for v in gstart],
            "jac": rows(jac)}
