"""torch.nn.RNN(num_layers=2, tanh) with the problem's weights, then a linear read-out."""


def reference(torch):
    t = torch.tensor
    rnn = torch.nn.RNN(2, 2, num_layers=2, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(t([[0.4, -0.2], [0.1, 0.3]]))
        rnn.weight_hh_l0.copy_(t([[0.5, 0.1], [-0.3, 0.2]]))
        rnn.bias_ih_l0.copy_(t([0.1, 0]))
        rnn.bias_hh_l0.copy_(t([0, -0.05]))
        rnn.weight_ih_l1.copy_(t([[0.2, 0.6], [-0.4, 0.1]]))
        rnn.weight_hh_l1.copy_(t([[0.3, -0.2], [0.25, 0.15]]))
        rnn.bias_ih_l1.copy_(t([0.02, 0.03]))
        rnn.bias_hh_l1.copy_(t([-0.01, 0]))
    V = t([[1.5, -0.5]], requires_grad=True)
    h0 = t([[0, 0], [0.1, -0.1]], requires_grad=True)  # (layers, hidden)
    x = t([[1, -1], [0.5, 0.25], [-1, 2]])
    y = t([[0.5], [-0.25], [0.1]])
    out, _ = rnn(x, h0)  # out: the top layer's states, (T, hidden)
    L = ((out @ V.T - y) ** 2).sum()
    L.backward()
    # ∂L/∂h2[2] in full: its own loss term and everything step 3 computes from it
    _, hn = rnn(x[:2], h0.detach())
    h22 = hn[1].detach().requires_grad_()
    out3, _ = rnn(x[2:], torch.stack([hn[0].detach(), h22]))
    rest = ((h22 @ V.T.detach() - y[1]) ** 2).sum() + ((out3[0] @ V.T.detach() - y[2]) ** 2).sum()
    (g22,) = torch.autograd.grad(rest, h22)
    return {"L": L.item(), "W1": rnn.weight_hh_l0.grad.tolist(),
            "U1": rnn.weight_ih_l0.grad.tolist(), "W2": rnn.weight_hh_l1.grad.tolist(),
            "V": V.grad.tolist(), "h10": h0.grad[0].tolist(), "h22": g22.tolist()}
