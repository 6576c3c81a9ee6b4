def reference(torch):
    def run(x2=None):
        w = torch.tensor(0.5, requires_grad=True)
        u = torch.tensor(1.0, requires_grad=True)
        v = torch.tensor(1.5, requires_grad=True)
        xs = [torch.tensor(0.25), torch.tensor(0.25, requires_grad=True), torch.tensor(2.0)]
        ys = [1.0, 0.5, 2.0]
        h = torch.tensor(1.0)
        hs, L = [], 0
        for t in range(3):
            h = torch.maximum(w * h, u * xs[t])  # at a tie torch splits the gradient evenly
            h.retain_grad()
            hs.append(h)
            yhat = torch.nn.functional.softplus(v * h)
            L = L + (yhat - ys[t]) ** 2
        L.backward()
        return {"h2": hs[1].item(), "L": L.item(), "w": w.grad.item(), "u": u.grad.item(),
                "v": v.grad.item(), "h1": hs[0].grad.item(), "x2": xs[1].grad.item()}
    return run()
