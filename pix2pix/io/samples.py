"""Sample types and how their values map to the networks' [-1, 1] (numpy only, light enough for options/).

uint8 and uint16 map their type's range (0..255, 0..65535); float32 a stated range, 0..1 unless
--value_range LOW,HIGH. The mapping is kept in options.json (--data_types, --value_range) and run
backwards on outputs, so a model writes what its targets are (pix2pix/io/arrays.py).
"""

import dataclasses
from typing import Optional, Tuple

import numpy as np

SAMPLE_TYPES = ("uint8", "uint16", "float32")
TYPE_RANGES = {"uint8": (0.0, 255.0), "uint16": (0.0, 65535.0)}
DEFAULT_FLOAT_RANGE = (0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class ValueMapping:
    """Samples of SAMPLE_TYPE <-> network values in [-1, 1]: LOW maps to -1, HIGH to 1."""

    sample_type: str
    low: float
    high: float

    def to_network(self, array: np.ndarray) -> np.ndarray:
        values = (np.asarray(array, np.float32) - np.float32(self.low)) / np.float32(self.high - self.low)
        return values * 2.0 - 1.0

    def from_network(self, values: np.ndarray) -> np.ndarray:
        """Network values -> samples of this type, rounded and clipped to the type's range."""
        samples = (np.asarray(values, np.float64) + 1.0) / 2.0 * (self.high - self.low) + self.low
        if self.sample_type in TYPE_RANGES:
            low, high = TYPE_RANGES[self.sample_type]
            return np.clip(np.rint(samples), low, high).astype(self.sample_type)
        return samples.astype(np.float32)

    @property
    def data_range(self) -> float:
        return float(self.high - self.low)

    def to_dict(self) -> dict:
        return {"sample_type": self.sample_type, "low": self.low, "high": self.high}


def parse_value_range(text: str) -> Optional[Tuple[float, float]]:
    """--value_range "LOW,HIGH" -> (low, high); "" -> None; ValueError for anything else."""
    if not text:
        return None
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"must be LOW,HIGH (two numbers), got {text!r}")
    low, high = (float(part) for part in parts)
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"must be two finite numbers LOW < HIGH, got {text!r}")
    return low, high


def value_mapping(sample_type: str, value_range: str = "") -> ValueMapping:
    """The mapping of SAMPLE_TYPE: its type's range, or float32's (--value_range, default 0,1)."""
    if sample_type in TYPE_RANGES:
        return ValueMapping(sample_type, *TYPE_RANGES[sample_type])
    return ValueMapping(sample_type, *(parse_value_range(value_range) or DEFAULT_FLOAT_RANGE))


def parse_data_types(text: str) -> Tuple[str, str]:
    """--data_types "INPUT,TARGET" (each one of SAMPLE_TYPES) -> (input type, target type)."""
    parts = text.split(",")
    if len(parts) != 2 or any(part not in SAMPLE_TYPES for part in parts):
        raise ValueError(f"must be INPUT,TARGET, each one of {', '.join(SAMPLE_TYPES)}, got {text!r}")
    return parts[0], parts[1]
