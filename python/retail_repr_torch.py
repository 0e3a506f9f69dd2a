"""A retail-repr model in PyTorch: build it from a file written by `retail-repr export-torch`.

    import torch, retail_repr_torch as rr
    model, input_config = rr.load("teacher.safetensors")   # eval mode (or "teacher.pth")
    z = model(x)             # x: [N, 3, S, S], ImageNet-normalised; z: [N, D], unit length

Needs only torch. The backbone uses torchvision's module names, so for torchvision's own
architectures (resnext50_32x4d, resnext101_32x8d) `model.backbone.state_dict()` loads with
strict=True into `torchvision.models.resnext50_32x4d()` (whose `fc` it does not have).
The LCA layer (Local Concepts Accumulation) has no parameters: it is a fixed weighting of the
final feature map's cells, computed here as in src/models/lca.ts.
"""
import json
import struct
import zipfile

import torch
from torch import nn
import torch.nn.functional as F

FORMAT = "retail-repr-torch/1"
PTH_METADATA = "retail_repr.json"
DTYPES = {"F32": torch.float32, "I64": torch.int64}


def read_safetensors(path):
    """(tensors by name, metadata) of a .safetensors file, with torch alone."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = memoryview(data)[8 + n:]
    tensors = {}
    for name, h in header.items():
        start, end = h["data_offsets"]
        t = torch.frombuffer(bytearray(body[start:end]), dtype=DTYPES[h["dtype"]]) if end > start else torch.empty(0, dtype=DTYPES[h["dtype"]])
        tensors[name] = t.reshape(h["shape"])
    return tensors, meta


class Bottleneck(nn.Module):
    """torchvision's Bottleneck with groups: 1x1, grouped 3x3 (the stride), 1x1 x4, + shortcut."""

    def __init__(self, inplanes, planes, stride, groups, width_per_group):
        super().__init__()
        width = int(planes * (width_per_group / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNeXt(nn.Module):
    """The backbone as src/models/resnext.ts builds it, from its exported config."""

    def __init__(self, cfg):
        super().__init__()
        planes = cfg.get("planes", [64, 128, 256, 512])
        stem = cfg.get("stem", 64)
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.stem_pool = cfg.get("stemPool", True) is not False
        inplanes = stem
        for i, (blocks, p) in enumerate(zip(cfg["layers"], planes)):
            stride = 1 if i == 0 else (cfg.get("lastStride", 2) if i == 3 else 2)
            layer = []
            for b in range(blocks):
                layer.append(Bottleneck(inplanes, p, stride if b == 0 else 1, cfg["groups"], cfg["widthPerGroup"]))
                inplanes = p * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.channels = inplanes

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        if self.stem_pool:
            x = F.max_pool2d(x, 3, 2, 1)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def lca_kernel(h, w):
    """LCA's fixed weights K [h, w] over the final map (src/models/lca.ts, lcaKernel)."""
    if h * w == 1:
        return torch.ones(1, 1)

    def axis(n):
        a = torch.zeros(n, dtype=torch.float64)
        for size in range(1, n + 1):
            positions = n - size + 1
            for i in range(n):
                covering = min(i, n - size) - max(0, i - size + 1) + 1
                a[i] += covering / (size * positions)
        return a

    k = (torch.outer(axis(h), axis(w)) - 1.0 / (h * w)) / (h * w - 1)
    return k.float()


class EmbeddingModel(nn.Module):
    """Backbone -> pooling (LCA or GAP) -> optional projection -> L2-normalised embedding, or
    logits when the model is a fine-tuned classifier (`classes` > 0)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.backbone = ResNeXt(config["arch"])
        self.pooling = config["pooling"]
        c = self.backbone.channels
        if self.pooling not in ("lca", "gap"):
            raise ValueError(f"pooling '{self.pooling}' is not exported (lca and gap are)")
        self.proj = nn.Linear(c, config["projDim"]) if config.get("projDim") else None
        dim = config["projDim"] or c
        self.fc = nn.Linear(dim, config["classes"]) if config.get("classes") else None

    def pool(self, f):
        if self.pooling == "gap":
            return f.mean((2, 3))
        k = lca_kernel(f.shape[2], f.shape[3]).to(f)
        return (f * k).sum((2, 3))

    def embed(self, x):
        """[N, 3, S, S] -> [N, D] unit vectors."""
        h = self.pool(self.backbone(x))
        return F.normalize(self.proj(h) if self.proj is not None else h, dim=1)

    def forward(self, x):
        if self.fc is None:
            return self.embed(x)
        # A classifier classifies the pooled features, or with a projection its embedding.
        return self.fc(self.embed(x) if self.proj is not None else self.pool(self.backbone(x)))


def read_pth(path):
    """(tensors by name, metadata) of a .pth written by `retail-repr export-torch`."""
    tensors = torch.load(path, map_location="cpu", weights_only=True)
    with zipfile.ZipFile(path) as z:
        entry = next((n for n in z.namelist() if n.endswith("/" + PTH_METADATA)), None)
        meta = json.loads(z.read(entry)) if entry else {}
    return dict(tensors), meta


def read(path):
    """(tensors by name, metadata) of an exported .safetensors or .pth file."""
    return read_safetensors(path) if str(path).endswith(".safetensors") else read_pth(path)


def load(path):
    """The model in eval mode and its input config (size, resize rule, mean, std)."""
    tensors, meta = read(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a retail-repr export (format {meta.get('format')!r}, expected {FORMAT!r})")
    config = json.loads(meta["model"])
    model = EmbeddingModel(config)
    state = {}
    for name, t in tensors.items():
        head = name.split(".")[0]
        state[name if head in ("proj", "fc") else f"backbone.{name}"] = t
    model.load_state_dict(state, strict=True)
    return model.eval(), json.loads(meta["input"])


def backbone_state_dict(path):
    """The backbone's tensors under torchvision's names (for torchvision.models.resnext*)."""
    tensors, _ = read(path)
    return {k: v for k, v in tensors.items() if k.split(".")[0] not in ("proj", "fc")}
