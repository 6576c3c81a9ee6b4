"""Entries swept over k in min-char-rnn ("hell" -> "ello"), written by hand in PyTorch float64."""


def reference(torch):
    t = torch.tensor
    W_xh = t([[0.1, -0.2, 0.3, 0.05], [0.4, 0.1, -0.1, 0.2], [-0.3, 0.2, 0.2, -0.1]])
    # requires_grad only so that the states carry gradients (h.grad below)
    W_hh = t([[0.5, -0.1, 0.2], [0.1, 0.3, -0.2], [0.0, 0.2, 0.4]], requires_grad=True)
    b_h = t([0.1, 0.0, -0.1])
    W_hy = t([[0.3, -0.2, 0.1], [0.2, 0.4, -0.3], [-0.1, 0.1, 0.2], [0.05, -0.3, 0.25]])
    b_y = t([0.0, 0.1, -0.1, 0.05])
    inputs, targets = [0, 1, 2, 2], [1, 2, 2, 3]
    h = torch.zeros(3)
    hs, ps, L = [], [], 0.0
    for k in range(4):
        x = torch.zeros(4)
        x[inputs[k]] = 1.0
        h = torch.tanh(W_xh @ x + W_hh @ h + b_h)
        h.retain_grad()
        hs.append(h)
        p = torch.softmax(W_hy @ h + b_y, dim=0)
        ps.append(p)
        L = L - torch.log(p[targets[k]])
    L.backward()
    return {
        "a": [h_k[0].item() for h_k in hs],
        "b": [h_k.grad[1].item() for h_k in hs],
        "c": [p_k[c].item() for p_k, c in zip(ps, targets)],
    }
