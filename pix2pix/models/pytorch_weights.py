"""PyTorch pix2pix state_dicts onto this port's networks: what a file holds, and loading it.

    describe_generator(state)        -> GeneratorFacts (netG, ngf, depth or blocks, channels, norm)
    describe_discriminator(state)    -> DiscriminatorFacts (ndf, n_layers, input channels, norm)
    load_generator(model, state, source) / load_discriminator(model, state, source)

The networks are the PyTorch repository's UnetGenerator (--netG unet_pytorch), ResnetGenerator
(resnet_9blocks / resnet_6blocks) and NLayerDiscriminator (--netD basic / n_layers). Their
state_dict keys are module paths (`model.model.1.model.2.running_mean`); each module maps to
one Keras layer here:

- Conv2d weight [out, in, kh, kw] -> Conv2D kernel [kh, kw, in, out];
- ConvTranspose2d weight [in, out, kh, kw] -> Conv2DTranspose kernel [kh, kw, out, in]
  (both the same axis permutation; neither kernel is flipped: both frameworks place input
  pixel i's contribution at output 2i + k - padding);
- BatchNorm2d weight, bias -> gamma, beta; running_mean, running_var -> moving_mean,
  moving_variance where the layer keeps them (else unused: batch statistics);
- num_batches_tracked, and the running statistics older files kept for instance norm, are
  not needed.

Biases the two sides disagree on are resolved exactly or refused: a bias this port has and the
file lacks (the PatchGAN's convolutions before batch norm) is zero; a bias the file has before
a batch norm this port lacks (networks.py of 2017 biased every convolution) is cancelled by
the norm's mean, so it is folded into the running mean. Any other difference, an unknown key
or a shape that does not match, is a one-line Pix2PixError naming the key.
"""

import dataclasses
import re
from typing import Dict, List, Optional, Tuple

import numpy as np

from pix2pix.errors import Pix2PixError

NOT_NEEDED = re.compile(r"\.num_batches_tracked$")
_DATA_PARALLEL = "module."  # keys of a model saved while wrapped in nn.DataParallel


def clean_keys(state: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """STATE without DataParallel's `module.` prefix and without keys no network here needs."""
    return {(key[len(_DATA_PARALLEL):] if key.startswith(_DATA_PARALLEL) else key): value
            for key, value in state.items() if not NOT_NEEDED.search(key)}


@dataclasses.dataclass(frozen=True)
class GeneratorFacts:
    netG: str  # unet_pytorch, resnet_9blocks, resnet_6blocks
    ngf: int
    input_channels: int
    output_channels: int
    norm: str  # batch or instance
    depth: Optional[int] = None  # U-Net levels (8: unet_256, 7: unet_128)
    dropout: Optional[bool] = None  # ResNet: whether its blocks hold Dropout (None: not visible)

    def __str__(self):
        levels = f", {self.depth} levels (unet_{2 ** self.depth})" if self.depth else ""
        return (f"{self.netG} with ngf={self.ngf}{levels}, {self.norm} norm, "
                f"{self.input_channels} -> {self.output_channels} channels")


@dataclasses.dataclass(frozen=True)
class DiscriminatorFacts:
    ndf: int
    n_layers: int
    input_channels: int
    norm: str

    def __str__(self):
        return (f"PatchGAN with ndf={self.ndf}, n_layers={self.n_layers}, {self.norm} norm, "
                f"{self.input_channels} input channels")


# ------------------------------------------------------------ sizes before building
# A network is built from sizes read off one or two tensors (ngf from the first convolution, the
# depth from the keys), so a small file could ask for a network of many gigabytes. Before anything
# is built, the kernels that network would hold are counted and compared with the values the
# file holds: a file that fits the network holds every one of those kernels, so a file holding
# fewer cannot fit it and is refused without building it.
MAX_UNET_DEPTH = 12  # unet_4096


def _level_channels(width, level):
    return width * min(2 ** (level - 1), 8)


def unet_kernel_values(ngf, depth, input_channels, output_channels, area=16) -> int:
    """Values in the kernels of a U-Net of DEPTH levels (the reference's channel rule)."""
    total = 0
    for k in range(1, depth + 1):
        inputs = input_channels if k == 1 else _level_channels(ngf, k - 1)
        outputs = output_channels if k == 1 else _level_channels(ngf, k - 1)
        deconv_inputs = _level_channels(ngf, k) * (1 if k == depth else 2)
        total += inputs * _level_channels(ngf, k) + deconv_inputs * outputs
    return area * total


def _resnet_kernel_values(facts) -> int:
    ngf, blocks = facts.ngf, int(facts.netG.split("_")[1][:-len("blocks")])
    return (49 * (facts.input_channels + facts.output_channels) * ngf
            + 9 * 2 * (2 * ngf * ngf + 8 * ngf * ngf) + 9 * 2 * blocks * (4 * ngf) ** 2)


def _patchgan_kernel_values(facts) -> int:
    total = facts.input_channels * facts.ndf + _level_channels(facts.ndf, facts.n_layers + 1)
    for n in range(1, facts.n_layers + 1):
        total += _level_channels(facts.ndf, n) * _level_channels(facts.ndf, n + 1)
    return 16 * total


def kernel_values(facts) -> int:
    """Values in the kernels of the network FACTS (GeneratorFacts or DiscriminatorFacts) describe."""
    if isinstance(facts, DiscriminatorFacts):
        return _patchgan_kernel_values(facts)
    if facts.netG == "unet_pytorch":
        return unet_kernel_values(facts.ngf, facts.depth, facts.input_channels, facts.output_channels)
    return _resnet_kernel_values(facts)


def check_network_size(needed: int, held: int, what, source: str) -> None:
    """Refuse building WHAT (its kernels NEEDED values) from a file SOURCE that holds HELD values."""
    if needed > held:
        raise Pix2PixError(f"{source}: its sizes describe {what}, whose kernels alone hold "
                           f"{needed:,} values, but the file holds {held:,}; refused before building it")


def check_unet_size(ngf, depth, input_channels, output_channels, state, source, area=16) -> None:
    """Refuse a U-Net of these sizes that STATE ({name: array}) cannot fill (see above); also used
    for the TF1 demo's .pict generators (AREA 1 with separable convolutions: their pointwise
    kernels alone are counted)."""
    if depth > MAX_UNET_DEPTH:
        raise Pix2PixError(f"{source}: a U-Net of {depth} levels; at most {MAX_UNET_DEPTH} "
                           f"(unet_{2 ** MAX_UNET_DEPTH}) are built")
    needed = unet_kernel_values(ngf, depth, input_channels, output_channels, area)
    check_network_size(needed, _values_held(state), f"a U-Net of ngf {ngf} and {depth} levels", source)


def _values_held(state) -> int:
    return sum(int(value.size) for value in state.values())


# A table row: (PyTorch module path, Keras layer name, module path of the norm after it or None)
Row = Tuple[str, str, Optional[str]]


def _weight(state, key, source, ndim=None):
    if key not in state:
        raise Pix2PixError(f"{source}: key {key} is missing; not a PyTorch pix2pix network of "
                           "a kind this port knows (UnetGenerator, ResnetGenerator, NLayerDiscriminator)")
    value = state[key]
    if ndim is not None and value.ndim != ndim:
        raise Pix2PixError(f"{source}: {key} has shape {list(value.shape)}, expected {ndim} dimensions")
    return value


# ----------------------------------------------------------------------------- U-Net
def _unet_prefixes(state) -> List[str]:
    """The Sequential path of each U-Net level, outermost first: model.model., then
    model.model.1.model., then + 3.model. for each deeper level while its keys exist."""
    prefixes = ["model.model."]
    while True:
        step = "1.model." if len(prefixes) == 1 else "3.model."
        candidate = prefixes[-1] + step
        if not any(key.startswith(candidate) for key in state):
            return prefixes
        prefixes.append(candidate)


def _unet_rows(prefixes) -> List[Row]:
    depth = len(prefixes)
    rows = [(prefixes[0] + "0", "encoder_1_conv", None), (prefixes[0] + "3", "decoder_1_deconv", None)]
    for k in range(2, depth):
        level = prefixes[k - 1]
        rows += [(level + "1", f"encoder_{k}_conv", level + "2"), (level + "2", f"encoder_{k}_bn", None),
                 (level + "5", f"decoder_{k}_deconv", level + "6"), (level + "6", f"decoder_{k}_bn", None)]
    inner = prefixes[-1]
    rows += [(inner + "1", f"encoder_{depth}_conv", None), (inner + "3", f"decoder_{depth}_deconv", inner + "4"),
             (inner + "4", f"decoder_{depth}_bn", None)]
    return rows


def _unet_facts(state, source) -> GeneratorFacts:
    prefixes = _unet_prefixes(state)
    if len(prefixes) < 5:
        raise Pix2PixError(f"{source}: a U-Net of {len(prefixes)} levels; PyTorch's UnetGenerator "
                           "has at least 5")
    first = _weight(state, prefixes[0] + "0.weight", source, 4)
    last = _weight(state, prefixes[0] + "3.weight", source, 4)  # [in, out, kh, kw]
    norm = "batch" if prefixes[1] + "2.weight" in state else "instance"
    facts = GeneratorFacts("unet_pytorch", first.shape[0], first.shape[1], last.shape[1], norm,
                           depth=len(prefixes))
    check_unet_size(facts.ngf, facts.depth, facts.input_channels, facts.output_channels, state, source)
    return facts


# ---------------------------------------------------------------------------- ResNet
def _resnet_blocks(state) -> List[int]:
    return sorted({int(m.group(1)) for m in (re.match(r"model\.(\d+)\.conv_block\.", k) for k in state) if m})


def _resnet_rows(state, blocks: List[int]) -> List[Row]:
    rows = [("model.1", "stem_conv", "model.2"), ("model.2", "stem_norm", None),
            ("model.4", "down_1_conv", "model.5"), ("model.5", "down_1_norm", None),
            ("model.7", "down_2_conv", "model.8"), ("model.8", "down_2_norm", None)]
    for i, index in enumerate(blocks, start=1):
        block = f"model.{index}.conv_block."
        second = 6 if f"{block}6.weight" in state and state[f"{block}6.weight"].ndim == 4 else 5
        rows += [(block + "1", f"block_{i}_conv1", block + "2"), (block + "2", f"block_{i}_1_norm", None),
                 (f"{block}{second}", f"block_{i}_conv2", f"{block}{second + 1}"),
                 (f"{block}{second + 1}", f"block_{i}_2_norm", None)]
    j = blocks[-1] + 1
    rows += [(f"model.{j}", "up_1_deconv", f"model.{j + 1}"), (f"model.{j + 1}", "up_1_norm", None),
             (f"model.{j + 3}", "up_2_deconv", f"model.{j + 4}"), (f"model.{j + 4}", "up_2_norm", None),
             (f"model.{j + 7}", "head_conv", None)]
    return rows


def _resnet_facts(state, source) -> GeneratorFacts:
    blocks = _resnet_blocks(state)
    if blocks != list(range(10, 10 + len(blocks))) or len(blocks) not in (6, 9):
        raise Pix2PixError(f"{source}: a ResNet generator with {len(blocks)} blocks; this port "
                           "has resnet_9blocks and resnet_6blocks")
    stem = _weight(state, "model.1.weight", source, 4)
    head = _weight(state, f"model.{blocks[-1] + 8}.weight", source, 4)
    norm = "batch" if "model.2.weight" in state else "instance"
    sixth = f"model.{blocks[0]}.conv_block.6.weight"  # a convolution there: Dropout at 4
    dropout = sixth in state and state[sixth].ndim == 4
    facts = GeneratorFacts(f"resnet_{len(blocks)}blocks", stem.shape[0], stem.shape[1],
                           head.shape[0], norm, dropout=dropout)
    check_network_size(kernel_values(facts), _values_held(state), facts, source)
    return facts


def check_finite(state, source: str) -> None:
    """Refuse STATE if any floating-point tensor holds NaN or infinity, naming the first such key
    (a generator with them draws black pictures; running statistics with them, too)."""
    for key, value in state.items():
        if value.dtype.kind == "f":
            finite = np.isfinite(value)
            if not finite.all():
                bad = int(value.size - np.count_nonzero(finite))
                raise Pix2PixError(f"{source}: {key} holds {bad} non-finite value{'s' if bad != 1 else ''} "
                                   f"(NaN or infinity) of {value.size}; nothing was imported")


def describe_generator(state, source: str) -> GeneratorFacts:
    """What generator STATE (cleaned) is, from its keys and shapes; Pix2PixError if it holds
    NaN or infinity (check_finite) or sizes the file cannot fill (check_network_size)."""
    check_finite(state, source)
    if "model.model.0.weight" in state:
        return _unet_facts(state, source)
    if any(".conv_block." in key for key in state):
        return _resnet_facts(state, source)
    raise Pix2PixError(f"{source}: not a PyTorch pix2pix generator (no UnetGenerator or "
                       f"ResnetGenerator keys; first key {next(iter(state), 'none')})")


def generator_rows(state, facts: GeneratorFacts) -> List[Row]:
    if facts.netG == "unet_pytorch":
        return _unet_rows(_unet_prefixes(state))
    return _resnet_rows(state, _resnet_blocks(state))


# ----------------------------------------------------------------------- PatchGAN D
def _patch_convs(state) -> List[int]:
    convs = []
    for key, value in state.items():
        match = re.match(r"model\.(\d+)\.weight$", key)
        if match and value.ndim == 4:
            convs.append(int(match.group(1)))
    return sorted(convs)


def describe_discriminator(state, source: str) -> DiscriminatorFacts:
    check_finite(state, source)
    convs = _patch_convs(state)
    n_layers = len(convs) - 2
    expected = [0] + [2 + 3 * n for n in range(n_layers + 1)]
    if n_layers < 1 or convs != expected or any(k.startswith("net.") for k in state):
        raise Pix2PixError(f"{source}: not a PyTorch NLayerDiscriminator (PatchGAN); "
                           f"convolutions at model.{convs}")
    first = state["model.0.weight"]
    norm = "batch" if "model.3.weight" in state else "instance"
    facts = DiscriminatorFacts(first.shape[0], n_layers, first.shape[1], norm)
    check_network_size(kernel_values(facts), _values_held(state), facts, source)
    return facts


def discriminator_rows(facts: DiscriminatorFacts) -> List[Row]:
    rows = [("model.0", "layer_1_conv", None)]
    for n in range(1, facts.n_layers + 1):
        conv, norm = 2 + 3 * (n - 1), 3 + 3 * (n - 1)
        rows += [(f"model.{conv}", f"layer_{n + 1}_conv", f"model.{norm}"),
                 (f"model.{norm}", f"layer_{n + 1}_bn", None)]
    rows.append((f"model.{2 + 3 * facts.n_layers}", f"layer_{facts.n_layers + 2}_conv", None))
    return rows


# --------------------------------------------------------------------------- loading
def _layer_values(state, row: Row, layer, source, folds) -> list:
    """[(keras variable, value)] for one table row; records consumed keys in FOLDS['used']."""
    module, _, norm_after = row
    used, pairs = folds["used"], []
    weights = {w.name: w for w in layer.weights}

    def take(key):
        used.add(key)
        return state[key]

    if "kernel" in weights:  # a (transposed) convolution
        kernel = take(module + ".weight")
        if kernel.ndim != 4:
            raise Pix2PixError(f"{source}: {module}.weight has shape {list(kernel.shape)}, "
                               f"a convolution ({layer.name}) needs 4 dimensions")
        pairs.append((weights["kernel"], kernel.transpose(2, 3, 1, 0)))
        bias_key = module + ".bias"
        if "bias" in weights:
            bias = take(bias_key) if bias_key in state else np.zeros(weights["bias"].shape, np.float32)
            pairs.append((weights["bias"], bias))
        elif bias_key in state:
            if norm_after is None or norm_after + ".running_mean" not in state:
                raise Pix2PixError(f"{source}: {bias_key} has no place here: {layer.name} has no "
                                   "bias and no batch norm follows it to absorb one")
            folds["bias"][norm_after] = take(bias_key)
        return pairs
    for name, suffix in (("gamma", "weight"), ("beta", "bias")):
        if name in weights:
            pairs.append((weights[name], take(f"{module}.{suffix}")))
    for name, suffix in (("moving_mean", "running_mean"), ("moving_variance", "running_var")):
        key = f"{module}.{suffix}"
        if key in state:
            used.add(key)  # batch statistics, or instance norm: not needed
            if name in weights:
                value = state[key] - folds["bias"].get(module, 0) if name == "moving_mean" else state[key]
                pairs.append((weights[name], value))
    return pairs


def load_rows(model, state, rows: List[Row], source: str) -> int:
    """Assign STATE to MODEL's layers as ROWS say; every key of STATE must find its place.
    Returns the number of values assigned."""
    layers = {layer.name: layer for layer in model.layers}
    folds = {"used": set(), "bias": {}}
    pairs = []
    for row in rows:
        layer = layers.get(row[1])
        if layer is None:
            raise Pix2PixError(f"{source}: {row[0]} maps to layer {row[1]}, which the model built "
                               f"from these options lacks")
        pairs += _layer_values(state, row, layer, source, folds)
    left = sorted(set(state) - folds["used"])
    if left:
        more = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
        raise Pix2PixError(f"{source}: key {left[0]} has no place in the {model.name}{more}")
    for variable, value in pairs:
        if tuple(variable.shape) != tuple(value.shape):
            raise Pix2PixError(f"{source}: shape mismatch for {variable.path}: the file gives "
                               f"{list(value.shape)}, the model needs {list(variable.shape)}")
    for variable, value in pairs:
        variable.assign(np.asarray(value, np.float32))
    return len(pairs)


def load_generator(model, state, source: str) -> GeneratorFacts:
    """Fill generator MODEL (built for these facts) from the PyTorch STATE read from SOURCE."""
    state = clean_keys(state)
    facts = describe_generator(state, source)
    load_rows(model, state, generator_rows(state, facts), source)
    return facts


def load_discriminator(model, state, source: str) -> DiscriminatorFacts:
    state = clean_keys(state)
    facts = describe_discriminator(state, source)
    load_rows(model, state, discriminator_rows(facts), source)
    return facts
