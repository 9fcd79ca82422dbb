"""SESR's collapsible linear blocks fold into plain convs without changing the output."""

import torch

from fsr_edge.models import create_model, load_model, save_model
from fsr_edge.models.sesr import CollapsibleConv


def test_collapsible_conv_folds_exactly():
    torch.manual_seed(0)
    for cin, cout, k in [(8, 8, 3), (3, 8, 5), (8, 12, 5)]:
        block = CollapsibleConv(cin, cout, k, expand=32)
        for p in block.parameters():
            torch.nn.init.normal_(p, std=0.2)
        x = torch.randn(2, cin, 11, 13)
        torch.testing.assert_close(block.fold()(x), block(x), rtol=1e-5, atol=1e-5)


def test_reparameterized_sesr_equals_training_form_and_saves_folded(tmp_path):
    torch.manual_seed(0)
    model = create_model("sesr_x8", f=16, m=3, expand=64).eval()
    for p in model.parameters():   # move away from the near-zero output init so the body matters
        p.data.add_(torch.randn_like(p) * 0.05)
    lr_face = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        before = model(lr_face)
        folded = model.reparameterize()
        after = folded(lr_face)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    assert not any(n.endswith(("expand.weight", "squeeze.weight")) for n, _ in folded.named_parameters())
    assert all(isinstance(m.conv, torch.nn.Conv2d) for m in folded.modules() if isinstance(m, CollapsibleConv))
    path = save_model(folded, tmp_path / "s.safetensors", arch="sesr_x8",
                      kwargs={"f": 16, "m": 3, "expand": 64, "deploy": True})
    with torch.no_grad():
        torch.testing.assert_close(load_model(path)(lr_face), before, rtol=1e-5, atol=1e-5)
