"""torch.nn.RNN(nonlinearity="relu", bias=False): the gradient by h_0 grows like ‖W‖^T."""


def reference(torch):
    t = torch.tensor
    rnn = torch.nn.RNN(2, 2, nonlinearity="relu", bias=False, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(t([[1.5, 0.5], [0.25, 1.25]]))
        rnn.weight_ih_l0.copy_(t([[0.5, 0], [0, 0.5]]))
    x = t([[1, 0], [0, 1], [1, 1], [0.5, 0], [0, 0.5], [1, -0.5]])
    h0 = t([[1, 0.5]], requires_grad=True)
    out, _ = rnn(x, h0)
    L = out[-1].sum()
    L.backward()

    def last_from_first(h1):
        h = h1
        for k in range(1, 6):
            h = torch.relu(rnn.weight_hh_l0 @ h + rnn.weight_ih_l0 @ x[k])
        return h

    J = torch.autograd.functional.jacobian(last_from_first, out[0].detach())
    return {"L": L.item(), "W": rnn.weight_hh_l0.grad.tolist(), "h0": h0.grad[0].tolist(),
            "J": J.tolist()}
