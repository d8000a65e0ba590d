"""fq_linear.py — the straight-through fake-quantized nn.Linear shared by the
PyTorch peers (torch_qat_quality.py, torch_train_step.py). Imports only torch,
so torch_train_step.py can import it lazily without h5py."""

import torch
import torch.nn.functional as F


def attach_fake_quant(model, fq):
    """Every nn.Linear of the decoder blocks computes its weight through fq
    with the straight-through estimator (torchao's FakeQuantizedLinear):
    w + (fq(w) - w).detach(). Returns the number of linears changed."""

    class FakeQuantLinear(torch.nn.Linear):
        def forward(self, x):
            w = self.weight
            return F.linear(x, w + (fq(w) - w).detach(), self.bias)

    n = 0
    for layer in model.model.layers:
        for mod in layer.modules():
            if type(mod) is torch.nn.Linear:
                mod.__class__ = FakeQuantLinear
                n += 1
    return n
