def reference(torch):
    def run():
        w = torch.tensor(0.5, requires_grad=True)
        u = torch.tensor(1.0, requires_grad=True)
        q = torch.tensor(1.5, requires_grad=True)
        v, y = torch.tensor(2.0), 1.0
        x = [1.0, -0.5, 2.0]
        h, hs, es = torch.tensor(0.0), [], []
        for t in range(3):
            h = torch.tanh(w * h + u * x[t])
            hs.append(h)
            e = q * h
            e.retain_grad()
            es.append(e)
        alpha = torch.softmax(torch.stack(es), 0)
        c = (alpha * torch.stack(hs)).sum()
        L = (v * c - y) ** 2
        return w, u, q, es, alpha, c, L

    w, u, q, es, alpha, c, L = run()
    L.backward()
    out = {"a": alpha.tolist(), "b": q.grad.item(), "w": w.grad.item(), "d": es[1].grad.item(),
           "u": u.grad.item(), "c": c.item()}
    _, _, q, _, alpha, _, _ = run()
    out["J"] = [torch.autograd.grad(alpha[i], q, retain_graph=True)[0].item() for i in range(3)]
    return out
