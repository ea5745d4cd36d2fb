"""Built-in models: shapes, layer groups, neuron sites, parameter counts; timm-derived groups."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from memscope.models import BUILTIN_MODELS, LayerGroup, load_factory, resolve_timm
from memscope.models.groups import (
    check_layer_groups,
    count_parameters,
    group_parameters,
    neuron_sites,
    parameter_groups,
)

SHAPES = [(1, 8), (1, 28), (3, 32)]
CASES = [
    ("mlp", 0.25, {}, SHAPES),
    ("cnn", 0.25, {}, SHAPES),
    ("resnet9", 0.125, {}, [(1, 28), (3, 32)]),
    ("resnet9", 0.125, {"final_padding": 1}, [(1, 8)]),
    ("resnet50", 1.0, {}, [(1, 8)]),  # 23.5M parameters: one case keeps the suite fast
    ("vit", 0.125, {"depth": 2}, SHAPES),
    ("vit", 0.125, {"depth": 1, "patch_size": 2, "mlp_ratio": 4}, [(1, 8)]),
]
K = 7


def build(name: str, c: int, s: int, width: float, **options) -> nn.Module:
    torch.manual_seed(0)
    return load_factory(BUILTIN_MODELS[name][0])(K, c, s, width, **options)


def assert_groups_consistent(model: nn.Module, x: torch.Tensor) -> None:
    check_layer_groups(model, x)
    groups = model.layer_groups()
    # Every parameter exactly once across groups.
    seen = [n for g in groups for n, _ in group_parameters(model, g)]
    assert sorted(seen) == sorted(n for n, _ in model.named_parameters())
    assert len(seen) == len(set(seen))
    assert sum(p.numel() for g in groups for _, p in group_parameters(model, g)) == count_parameters(model)
    assert set(parameter_groups(model).values()) <= {g.name for g in groups}

    # Record activations with hooks: output_module width == num_neurons; each neuron module's
    # width == the units neuron_sites reports.
    got: dict[str, torch.Tensor] = {}
    hooks = []
    for g in groups:
        for path in {g.output_module, *g.neuron_modules}:
            hooks.append(model.get_submodule(path).register_forward_hook(
                lambda _m, _i, out, path=path: got.setdefault(path, out)))
    model.eval()
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()

    def width(g: LayerGroup, t: torch.Tensor) -> int:
        return t.shape[1] if g.kind == "conv" else t.shape[-1]

    for g in groups:
        assert width(g, got[g.output_module]) == g.num_neurons, g
    sites = neuron_sites(model)
    assert [p for _, p, _, _ in sites] == [p for g in groups for p in g.neuron_modules]
    for g, path, module, units in sites:
        assert module is model.get_submodule(path)
        assert width(g, got[path]) == units, (g.name, path)


@pytest.mark.parametrize(
    "name,width,options,c,s",
    [(n, w, o, c, s) for n, w, o, shapes in CASES for c, s in shapes],
    ids=lambda v: str(v),
)
def test_builtin_model(name, width, options, c, s):
    model = build(name, c, s, width, **options)
    x = torch.randn(3, c, s, s)
    model.train()
    assert model(x).shape == (3, K)
    assert_groups_consistent(model, x)


def test_unknown_option_is_a_type_error():
    for name in BUILTIN_MODELS:
        with pytest.raises(TypeError, match="no_such_option"):
            load_factory(BUILTIN_MODELS[name][0])(K, 3, 32, 1.0, no_such_option=1)


def test_resnet9_matches_the_paper():
    from memscope.models.resnet9 import make_resnet9

    assert count_parameters(make_resnet9(10, 3, 32)) == 2_274_880
    model = build("resnet9", 3, 32, 1.0)
    assert [g.name for g in model.layer_groups()] == [
        "conv1", "conv2", "res1_a", "res1_b", "conv3", "res2_a", "res2_b", "conv4", "fc"]
    assert model.fc.bias is None
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))
    # Logits are the linear output times 0.2.
    x = torch.randn(2, 3, 32, 32)
    feats = {}
    model.fc.register_forward_hook(lambda _m, _i, out: feats.setdefault("fc", out))
    model.eval()
    torch.testing.assert_close(model(x), 0.2 * feats["fc"])
    # Width scales every channel count.
    half = build("resnet9", 3, 32, 0.5)
    assert [g.num_neurons for g in half.layer_groups()] == [32, 64, 64, 64, 128, 128, 128, 64, K]


def test_resnet9_minimum_input_size():
    from memscope.models.resnet9 import make_resnet9, min_image_size

    assert min_image_size(0) == 11 and min_image_size(1) == 3
    make_resnet9(K, 1, 11, 0.125)(torch.randn(2, 1, 11, 11))
    with pytest.raises(ValueError, match="final_padding"):
        make_resnet9(K, 1, 10, 0.125)
    with pytest.raises(ValueError, match="too small"):
        make_resnet9(K, 1, 8, 0.125)
    make_resnet9(K, 1, 3, 0.125, final_padding=1)(torch.randn(2, 1, 3, 3))


def test_model_option_errors():
    with pytest.raises(ValueError, match="width"):
        build("resnet50", 3, 32, 0.5)
    with pytest.raises(ValueError, match="divisible"):
        build("vit", 3, 30, 0.125)
    vit = build("vit", 3, 32, 0.1, heads=8, depth=1)
    assert vit.head.in_features % 8 == 0


def test_layer_group_validation():
    with pytest.raises(ValueError, match="SQL-safe"):
        LayerGroup("Conv.1", ("a",), ("a",), "a", "conv", 4)
    with pytest.raises(ValueError, match="kind"):
        LayerGroup("a", ("a",), ("a",), "a", "conv2d", 4)
    with pytest.raises(ValueError, match="root"):
        LayerGroup("a", ("",), (), "a", "conv", 4)
    g = LayerGroup("a", ["x"], ["x"], "x", "linear", 3)
    assert g.modules == ("x",) and hash(g)


class _Toy(nn.Module):
    def __init__(self, groups):
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(3, 2)
        self._groups = groups

    def forward(self, x):
        return self.b(self.a(x))

    def layer_groups(self):
        return self._groups


def _g(name, modules, neuron, out, kind="linear", n=3):
    return LayerGroup(name, modules, neuron, out, kind, n)


@pytest.mark.parametrize(
    "groups,message",
    [
        ([_g("a", ("a",), ("a",), "a")], "no layer group"),
        ([_g("a", ("a",), ("a",), "a"), _g("b", ("a", "b"), ("b",), "b", n=2)], "more than one"),
        ([_g("a", ("a",), ("a",), "a"), _g("b", ("c",), ("b",), "b", n=2)], "not a module"),
        ([_g("a", ("a",), ("a",), "a", kind="conv"), _g("b", ("b",), ("b",), "b", n=2)], "expected Conv2d"),
        ([_g("a", ("a",), ("a",), "a", n=5), _g("b", ("b",), ("b",), "b", n=2)], "num_neurons"),
        ([_g("a", ("a",), ("b",), "a"), _g("b", ("b",), (), "b", n=2)], "not among its parameters"),
        ([_g("a", ("a",), ("a",), "a"), _g("a", ("b",), ("b",), "b", n=2)], "not unique"),
    ],
)
def test_check_layer_groups_rejects(groups, message):
    with pytest.raises(ValueError, match=message):
        check_layer_groups(_Toy(groups))


def test_check_layer_groups_forward_mismatch():
    # The static check cannot see a wrapper's width; the forward check does.
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    model.layer_groups = lambda: [_g("a", ("0",), ("0",), "1", n=4), _g("b", ("2",), ("2",), "2", n=2)]
    check_layer_groups(model)
    with pytest.raises(ValueError, match="activations"):
        check_layer_groups(model, torch.randn(2, 4))


def test_timm_resnet_groups():
    model = resolve_timm("resnet18")(K, 3, 32)
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, K)
    assert_groups_consistent(model, x)
    groups = model.layer_groups()
    assert groups[0] == LayerGroup("conv1", ("conv1", "bn1"), ("conv1",), "bn1", "conv", 64)
    assert groups[-1].name == "fc" and groups[-1].kind == "linear" and groups[-1].num_neurons == K
    assert len(groups) == 21  # 17 convs + 3 downsample convs + fc
    # The attached layer_groups survives a deep copy (rewinding copies the model).
    assert copy.deepcopy(model).layer_groups() == groups


def test_timm_vit_groups():
    model = load_factory("timm:vit_tiny_patch16_224")(K, 1, 32, patch_size=8, depth=2)
    x = torch.randn(2, 1, 32, 32)
    assert model(x).shape == (2, K)
    assert_groups_consistent(model, x)
    groups = model.layer_groups()
    first = groups[0]
    assert first.name == "patch_embed_proj" and first.kind == "conv"
    assert set(first.parameters) == {"cls_token", "pos_embed"}  # root parameters go to the first group
    assert [g.name for g in groups[1:5]] == [
        "blocks_0_attn_qkv", "blocks_0_attn_proj", "blocks_0_mlp_fc1", "blocks_0_mlp_fc2"]
    assert groups[-1].name == "head"


def test_timm_errors():
    from memscope.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="resnet18"):
        resolve_timm("resnet18_no_such_model")
    with pytest.raises(ValueError, match="pretrained"):
        resolve_timm("resnet18")(K, 3, 32, pretrained=True)
    with pytest.raises(ValueError, match="width"):
        resolve_timm("resnet18")(K, 3, 32, 0.5)
    with pytest.raises(ValueError, match="module:function"):
        load_factory("no_colon")
