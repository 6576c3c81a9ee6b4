"""min-char-rnn with biases, written by hand in PyTorch float64."""


def reference(torch):
    t = torch.tensor
    W_xh = t([[0.1, -0.2, 0.3, 0.05], [0.4, 0.1, -0.1, 0.2], [-0.3, 0.2, 0.2, -0.1]],
             requires_grad=True)
    W_hh = t([[0.5, -0.1, 0.2], [0.1, 0.3, -0.2], [0.0, 0.2, 0.4]], requires_grad=True)
    b_h = t([0.1, 0.0, -0.1], requires_grad=True)
    W_hy = t([[0.3, -0.2, 0.1], [0.2, 0.4, -0.3], [-0.1, 0.1, 0.2], [0.05, -0.3, 0.25]],
             requires_grad=True)
    b_y = t([0.0, 0.1, -0.1, 0.05], requires_grad=True)
    inputs, targets = [0, 1, 2, 2], [1, 2, 2, 3]  # "hell" -> "ello", 0-based

    def run(detach_before=None):
        hs = [torch.zeros(3)]
        ps, losses = [], []
        for k in range(4):
            prev = hs[-1]
            if detach_before is not None and k < detach_before:
                prev = prev.detach()
            x = torch.zeros(4)
            x[inputs[k]] = 1.0
            h = torch.tanh(W_xh @ x + W_hh @ prev + b_h)
            h.retain_grad()
            hs.append(h)
            p = torch.softmax(W_hy @ h + b_y, dim=0)
            ps.append(p)
            losses.append(-torch.log(p[targets[k]]))
        return hs, ps, losses

    def rows(g):
        return [[float(v) for v in r] for r in g.detach()]

    hs, ps, losses = run()
    L = sum(losses)
    gW_hh, gb_h, gb_y = torch.autograd.grad(L, (W_hh, b_h, b_y), retain_graph=True)
    gh1 = torch.autograd.grad(L, hs[1], retain_graph=True)[0]
    gL2_h1 = torch.autograd.grad(losses[1], hs[1], retain_graph=True)[0]
    gp3_h3 = torch.autograd.grad(ps[2][0], hs[3], retain_graph=True)[0]
    # d(p[3], h[3][2]): entry i is entry 2 of the gradient of p[3][i] by h[3]
    p3_h3_2 = [float(torch.autograd.grad(ps[2][i], hs[3], retain_graph=True)[0][1])
               for i in range(4)]
    # truncated BPTT, K = 2: loss term t is back-propagated through steps t and t-1 only
    # (h[t-2] is a constant); loss k (0-based) is L[k+1], so states h[j] with j < k are cut
    trunc = torch.zeros(3, 3)
    for k in range(4):
        _, _, ls = run(detach_before=k)
        trunc += torch.autograd.grad(ls[k], W_hh)[0]
    return {
        "L": float(L.detach()),
        "W_hh": rows(gW_hh),
        "b_h": [float(v) for v in gb_h.detach()],
        "W_hh12": float(gW_hh[0, 1].detach()),
        "h1": [float(v) for v in gh1.detach()],
        "p2": float(ps[1][2].detach()),
        "h2_1": float(hs[2][0].detach()),
        "L2_h12": float(gL2_h1[1].detach()),
        "p3_h3": [float(v) for v in gp3_h3.detach()],
        "b_y": [float(v) for v in gb_y.detach()],
        "p3_h3_2": p3_h3_2,
        "W_hh_T": float(trunc[1, 2].detach()),
    }
