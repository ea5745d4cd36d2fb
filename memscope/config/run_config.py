"""What a run config is: frozen dataclasses, one per TOML table, with the range checks that
need no plugin (:func:`validate`).

Every field has a comment saying what it does (help texts and the TUI's forms read them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memscope.errors import ConfigError

SCHEDULES = ("warmup_cosine", "one_cycle", "constant")
PRECISIONS = ("fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "digits"  # registered dataset name (`memscope plugins` lists them)
    path: str = ""  # a .npz file, for datasets that read one: npz, or mnist/cifar10/svhn as a Keras-style .npz
    data_dir: str = ""  # where downloadable datasets live; empty = <home>/data
    download: bool = True  # let torchvision download a missing dataset into data_dir
    train_subset: int = 0  # keep this many training examples (seeded draw); 0 = all
    test_subset: int = 0  # keep this many test examples (seeded draw); 0 = all
    augment: bool = False  # random crop (pad 4) + horizontal flip, on the device


@dataclass(frozen=True)
class NoiseConfig:
    model: str = "symmetric"  # registered noise model: symmetric, pairflip, none
    rate: float = 0.1  # share of training labels corrupted: exactly floor(rate * N)
    paper_off_by_one: bool = False  # symmetric: draw the shift from {1..K-2} like the released code


@dataclass(frozen=True)
class ModelConfig:
    name: str = "cnn"  # registered model name, or "timm:<name>" for any timm model
    width: float = 1.0  # channel-width multiplier (models that support it)
    options: dict[str, Any] = field(default_factory=dict)  # extra keyword arguments for the model


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 50  # passes over the training set
    batch_size: int = 512  # examples per SGD step
    lr: float = 0.01  # peak learning rate
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 weight decay
    schedule: str = "warmup_cosine"  # per-step schedule: warmup_cosine, one_cycle, constant
    warmup_fraction: float = 0.1  # share of steps spent warming up linearly
    precision: str = "fp32"  # fp32, or bf16 autocast (GPU only)
    checkpoint_every: int = 1  # save weights every k epochs (init and last always)
    track_examples: bool = True  # per-example loss/correct/margin/pred every epoch
    eval_batch_size: int = 1024  # batch size for evaluation passes


@dataclass(frozen=True)
class EtdConfig:
    enabled: bool = False  # train with example-tied dropout
    layers: tuple[str, ...] = ()  # layer groups whose outputs are masked; empty = the model's default (example_tied_dropout.default_etd_groups)
    p_gen: float = 0.4  # share of channels that are always on (generalization channels)
    p_mem: float = 0.1  # probability each memorization channel is kept for an example
    dropped_scale: float = 0.0  # scale of generalization channels when dropped; 0 = (p_gen+p_mem)/p_gen


@dataclass(frozen=True)
class RunConfig:
    name: str = ""  # a label for the run (shown in lists); empty = "<dataset>-<model>"
    seed: int = 0  # seeds the noise, the subsets, the initial weights and the batch order
    device: str = "auto"  # auto (cuda > mps > cpu), cpu, cuda, mps
    threads: int = 0  # CPU threads for torch; 0 = auto (1 for models under 1M parameters, else torch's default)
    analyses: tuple[str, ...] = ()  # registered analyses to run (in-training and post-training)
    analysis_timeout: float = 0.0  # seconds each post-training analysis may run before it is marked failed; 0 = no limit
    tags: dict[str, str] = field(default_factory=dict)  # free-form labels (sweeps put theirs here)
    data: DataConfig = field(default_factory=DataConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    etd: EtdConfig = field(default_factory=EtdConfig)
    analysis: dict[str, dict[str, Any]] = field(default_factory=dict)  # [analysis.<name>] options

    @property
    def label(self) -> str:
        return self.name or f"{self.data.dataset}-{self.model.name}"


# --------------------------------------------------------------------------- building


# --------------------------------------------------------------------------- validation


def _check_choice(value: str, choices: tuple[str, ...], key: str, source: str) -> None:
    if value not in choices:
        raise ConfigError(f"{source}: '{key}' = {value!r} is not one of: {', '.join(choices)}")


#: Each numeric key's allowed range, as (lowest, highest, how the message says it): far
#: beyond any real run, tight enough that a typo (epochs = 1e26, width = 1e6) is an error
#: instead of hours of work or an overflow. validate() checks the lower ends it has always had.
BOUNDS: dict[str, tuple[float, float, str]] = {
    "seed": (0, 2**63 - 1, "0 to 2**63 - 1"),  # stored as a 64-bit integer
    "threads": (0, 1024, "0 (auto) to 1024"),
    "analysis_timeout": (0, 30 * 24 * 3600, "0 (no limit) to 2592000 seconds (30 days)"),
    "model.width": (0, 64, "more than 0, at most 64"),
    "data.train_subset": (0, 2**31 - 1, "0 (all) to 2147483647"),
    "data.test_subset": (0, 2**31 - 1, "0 (all) to 2147483647"),
    "train.epochs": (1, 100_000, "1 to 100000"),
    "train.batch_size": (1, 2**20, "1 to 1048576"),
    "train.eval_batch_size": (1, 2**20, "1 to 1048576"),
    "train.checkpoint_every": (1, 100_000, "1 to 100000"),
}


def _check_bounds(cfg: RunConfig, source: str) -> None:
    for key, (low, high, allowed) in BOUNDS.items():
        value: Any = cfg
        for part in key.split("."):
            value = getattr(value, part)
        if not low <= value <= high:
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            raise ConfigError(f"{source}: '{key}' = {shown} is out of range; allowed: {allowed}")


#: The analyses that localize memorization in a normally trained model (rewinding, retraining,
#: neuron flipping). A run trained with example-tied dropout refuses them: its model memorizes
#: through each example's own mask, which these analyses would not apply (docs in README).
LOCALIZING_ANALYSES = ("rewinding", "retraining", "neuron_flipping")


def validate(cfg: RunConfig, source: str = "config") -> RunConfig:
    """Range checks that do not need the plugin registry."""
    _check_choice(cfg.device, DEVICES, "device", source)
    _check_choice(cfg.train.schedule, SCHEDULES, "train.schedule", source)
    _check_choice(cfg.train.precision, PRECISIONS, "train.precision", source)
    if not 0.0 <= cfg.noise.rate < 1.0:
        raise ConfigError(f"{source}: 'noise.rate' = {cfg.noise.rate} must be in [0, 1)")
    positive = {
        "train.epochs": cfg.train.epochs,
        "train.batch_size": cfg.train.batch_size,
        "train.checkpoint_every": cfg.train.checkpoint_every,
        "train.eval_batch_size": cfg.train.eval_batch_size,
    }
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{source}: '{key}' = {value} must be at least 1")
    for key, value in {"data.train_subset": cfg.data.train_subset, "data.test_subset": cfg.data.test_subset, "threads": cfg.threads}.items():
        if value < 0:
            raise ConfigError(f"{source}: '{key}' = {value} must be 0 (all) or a positive count")
    if cfg.analysis_timeout < 0:
        raise ConfigError(f"{source}: 'analysis_timeout' = {cfg.analysis_timeout} must be 0 (no limit) or a number of seconds")
    _check_bounds(cfg, source)
    if cfg.train.lr <= 0:
        raise ConfigError(f"{source}: 'train.lr' = {cfg.train.lr} must be positive")
    if not 0.0 <= cfg.train.warmup_fraction < 1.0:
        raise ConfigError(f"{source}: 'train.warmup_fraction' must be in [0, 1)")
    if cfg.model.width <= 0:
        raise ConfigError(f"{source}: 'model.width' = {cfg.model.width} must be positive")
    etd = cfg.etd
    if not 0.0 < etd.p_gen < 1.0 or not 0.0 < etd.p_mem <= 1.0:
        raise ConfigError(f"{source}: 'etd.p_gen' must be in (0, 1) and 'etd.p_mem' in (0, 1]")
    if etd.p_gen + etd.p_mem > 1.0:
        raise ConfigError(
            f"{source}: 'etd.p_gen' + 'etd.p_mem' = {etd.p_gen + etd.p_mem:g} must be at most 1"
        )
    if "etd" in cfg.analyses and not etd.enabled:
        raise ConfigError(f"{source}: analysis 'etd' needs example-tied dropout training: set [etd] enabled = true")
    localizing = [name for name in LOCALIZING_ANALYSES if name in cfg.analyses]
    if etd.enabled and localizing:
        raise ConfigError(
            f"{source}: {', '.join(repr(n) for n in localizing)} cannot run on a model trained with example-tied dropout "
            "([etd] enabled = true): its memorization sits in per-example masks these analyses do not apply; "
            "run them in a separate run without [etd] (e.g. 'memscope run digits'), or remove them from 'analyses'"
        )
    if len(set(cfg.analyses)) != len(cfg.analyses):
        raise ConfigError(f"{source}: 'analyses' lists a name twice: {list(cfg.analyses)}")
    for name, options in cfg.analysis.items():
        if not isinstance(options, dict):
            raise ConfigError(f"{source}: 'analysis.{name}' must be a table ([analysis.{name}])")
    return cfg
