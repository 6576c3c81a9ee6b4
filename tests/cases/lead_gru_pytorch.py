"""torch.nn.GRUCell with the problem's weights (PyTorch stacks the gates as r, z, n)."""


def reference(torch):
    t = torch.tensor
    W = {k: t(v) for k, v in {
        "ir": [[0.1, -0.2], [0.3, 0.05]], "hr": [[0.2, 0.1], [-0.1, 0.25]],
        "iz": [[-0.3, 0.2], [0.1, 0.4]], "hz": [[0.05, -0.15], [0.2, 0.1]],
        "in": [[0.5, -0.4], [0.3, 0.2]], "hn": [[0.3, 0.2], [-0.25, 0.4]]}.items()}
    b = {k: t(v) for k, v in {"ir": [0.01, -0.02], "hr": [0.03, 0.04], "iz": [0.0, 0.1],
                              "hz": [-0.05, 0.02], "in": [0.1, -0.1], "hn": [0.05, 0.05]}.items()}
    xs = t([[1, 0], [0.5, -1], [-0.5, 2]])
    ys = t([[0.2, 0.1], [0, 0.3], [-0.1, 0.2]])

    def run(truncate=None):
        cell = torch.nn.GRUCell(2, 2, dtype=torch.float64)
        with torch.no_grad():
            cell.weight_ih.copy_(torch.cat([W["ir"], W["iz"], W["in"]]))
            cell.weight_hh.copy_(torch.cat([W["hr"], W["hz"], W["hn"]]))
            cell.bias_ih.copy_(torch.cat([b["ir"], b["iz"], b["in"]]))
            cell.bias_hh.copy_(torch.cat([b["hr"], b["hz"], b["hn"]]))
        h0 = t([0.1, -0.2], requires_grad=True)
        hs, h = [], h0
        for k in range(3):
            h = cell(xs[k:k + 1], h.reshape(1, 2)).reshape(2)
            h.retain_grad()
            hs.append(h)
        losses = [((hs[k] - ys[k]) ** 2).sum() / 2 for k in range(3)]
        return cell, h0, hs, losses

    cell, h0, hs, losses = run()
    L = sum(losses)
    L.backward()
    whh = cell.weight_hh.grad
    out = {"L": L.item(), "hz": whh[2:4].tolist(), "hn": whh[4:6].tolist(),
           "bhn": cell.bias_hh.grad[4:6].tolist(), "ir": cell.weight_ih.grad[0:2].tolist(),
           "h0": h0.grad.tolist(), "h1": hs[0].grad.tolist()}
    # truncate 1: each loss term sees only its own step (h[t-1] a constant)
    cell = run()[0]
    total = torch.zeros(2, 2)
    hprev = t([0.1, -0.2])
    for k in range(3):
        h = cell(xs[k:k + 1], hprev.detach().reshape(1, 2)).reshape(2)
        loss = ((h - ys[k]) ** 2).sum() / 2
        (g,) = torch.autograd.grad(loss, cell.weight_hh)
        total += g[2:4]
        hprev = h
    out["k1"] = total.tolist()
    return out
