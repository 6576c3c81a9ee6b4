def reference(torch):
    w = torch.tensor(0.5, requires_grad=True)
    y = [0.0, 1.0, 0.5]

    def loss(a1=None, u2=None, x=None):
        x = x or [torch.tensor(v) for v in (1.0, -1.0, 2.0)]
        hs = [torch.tensor(0.5)]
        total = 0
        for t in range(3):
            a = a1 if (t == 0 and a1 is not None) else hs[-1]
            u = u2 if (t == 1 and u2 is not None) else x[t]
            h = torch.tanh(w * a + u)
            total = total + (h - y[t] * x[t] - hs[-1]) ** 2
            hs.append(h)
        return total

    a1 = torch.tensor(0.5, requires_grad=True)
    u2 = torch.tensor(-1.0, requires_grad=True)
    x = [torch.tensor(v, requires_grad=True) for v in (1.0, -1.0, 2.0)]
    return {"a1": torch.autograd.grad(loss(a1=a1), a1)[0].item(),
            "u2": torch.autograd.grad(loss(u2=u2), u2)[0].item(),
            "x2": torch.autograd.grad(loss(x=x), x[1])[0].item(),
            "w": torch.autograd.grad(loss(), w)[0].item()}
