import pytest
import torch

from csrtouch.model import CSRNet
from paper_csrnet import PaperCSRNet


def _pair(seed: int = 0) -> tuple[CSRNet, PaperCSRNet]:
    torch.manual_seed(seed)
    paper = PaperCSRNet().eval()
    # Random heads make the GFM matter (trained heads are far from zero).
    for p in paper.parameters():
        torch.nn.init.normal_(p, std=0.2)
    ours = CSRNet().eval()
    ours.load_state_dict(paper.state_dict(), strict=True)
    return ours, paper


def test_parameter_count_matches_paper():
    assert sum(p.numel() for p in CSRNet().parameters()) == 36489


def test_state_dict_keys_match_paper():
    assert list(CSRNet().state_dict()) == list(PaperCSRNet().state_dict())


@pytest.mark.parametrize("shape", [(1, 3, 37, 53), (2, 3, 64, 64)])
def test_zero_style_is_the_paper_forward(shape):
    ours, paper = _pair()
    x = torch.rand(shape)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), paper(x), rtol=0, atol=1e-6)
        zeros = torch.zeros(32)
        torch.testing.assert_close(ours(x, gamma=zeros, beta=zeros), paper(x), rtol=0, atol=1e-6)


def test_style_changes_output_only_through_condition():
    ours, _ = _pair()
    x = torch.rand(1, 3, 32, 32)
    gamma, beta = torch.full((32,), 0.5), torch.full((32,), 0.1)
    with torch.no_grad():
        cond = ours.condition(x)
        expected = ours.base(x, ours.modulation(cond * 1.5 + 0.1))
        torch.testing.assert_close(ours(x, gamma=gamma, beta=beta), expected)
        assert not torch.allclose(ours(x, gamma=gamma, beta=beta), ours(x))


def test_condition_from_thumbnail():
    ours, _ = _pair()
    x, thumb = torch.rand(1, 3, 40, 40), torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        expected = ours.base(x, ours.modulation(ours.condition(thumb)))
        torch.testing.assert_close(ours(x, thumb=thumb), expected)


def test_released_checkpoint_loads_strictly(shared):
    state = torch.load(shared / "reference" / "csrnet-official-expertC.pth", map_location="cpu", weights_only=True)
    CSRNet().load_state_dict(state, strict=True)
