def reference(torch):
    p = {k: torch.tensor(v, requires_grad=True) for k, v in
         dict(w_f=0.5, u_f=1.0, b_f=1.0, w_i=1.0, u_i=-0.5, w_g=1.0, u_g=0.5, w_o=0.25,
              u_o=1.0).items()}
    x, y = [1.0, -1.0, 0.5], [0.5, -0.25, 0.0]
    sig = torch.sigmoid

    def run(cut=0):
        """Steps 1..3; the states of steps <= cut are constants (detached)."""
        c0 = torch.tensor(1.0, requires_grad=True)
        h, c, hs, cs = torch.tensor(0.5), c0, [], []
        for t in range(1, 4):
            f = sig(p["w_f"] * x[t - 1] + p["u_f"] * h + p["b_f"])
            i = sig(p["w_i"] * x[t - 1] + p["u_i"] * h)
            g = torch.tanh(p["w_g"] * x[t - 1] + p["u_g"] * h)
            o = sig(p["w_o"] * x[t - 1] + p["u_o"] * h)
            c = f * c + i * g
            h = o * torch.tanh(c)
            if t <= cut:
                c, h = c.detach(), h.detach()
            c.retain_grad() if c.requires_grad else None
            hs.append(h)
            cs.append(c)
        return hs, cs, c0

    hs, cs, c0 = run()
    L = sum((h - y[t]) ** 2 / 2 for t, h in enumerate(hs))
    full, dc1, dc0 = torch.autograd.grad(L, [p["u_f"], cs[0], c0])

    def truncated(K):
        total = 0.0
        for t in range(1, 4):
            hs_t, _, _ = run(cut=t - K)
            (g,) = torch.autograd.grad((hs_t[t - 1] - y[t - 1]) ** 2 / 2, p["u_f"])
            total += g.item()
        return total

    return {"full": full.item(), "k1": truncated(1), "k2": truncated(2), "dc1": dc1.item(),
            "dc0": dc0.item()}
