def reference(torch):
    w = torch.tensor(0.5, requires_grad=True)
    r = torch.tensor(-1.0, requires_grad=True)
    b, v = torch.tensor(0.25), torch.tensor(2.0)
    start = torch.tensor(0.5, requires_grad=True)
    x, y = [1.0, -1.0, 0.5], [1.0, 0.0, 1.0]
    prev, outs = start, []
    for t in range(3):
        h = torch.tanh(w * x[t] + r * prev + b)
        prev = torch.sigmoid(v * h)
        prev.retain_grad()
        outs.append(prev)
    L = sum(-(y[t] * torch.log(o) + (1 - y[t]) * torch.log(1 - o)) for t, o in enumerate(outs))
    gr, gw, gy1, gs = torch.autograd.grad(L, [r, w, outs[0], start])
    return {"yhat2": outs[1].item(), "loss": L.item(), "dr": gr.item(), "dw": gw.item(),
            "dyhat1": gy1.item(), "dstart": gs.item()}
