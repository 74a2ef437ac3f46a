"""The paper's tables (Isola et al. 2017, Tables 1-3) as rows of flags, and the runs they need."""

import dataclasses
from typing import Dict, List, Tuple

from pix2pix.errors import UsageError

STATE_FILE = "reproduce.json"
ROW_FILE = "row.json"
TABLE_MD, TABLE_CSV, GRID_PNG, LOSSES_PNG = "table.md", "table.csv", "grid.png", "losses.png"
DEFAULT_SEED = 1  # the one seed every row trains with, unless --seed is passed on
GRID_ROWS = 6  # val images in grid.png, spread over the set
INTERRUPTED = 130

# What a table row may set; everything else is the user's, passed on to every run.
TABLE_FLAGS = ("gan_weight", "l1_weight", "netG", "netD", "n_layers_D", "condition_GAN")
# Flags this command gives the runs itself.
OWN_FLAGS = ("mode", "input_dir", "output_dir", "checkpoint", "max_steps", "max_epochs")
# The paper's L1 + cGAN objective and its pieces, as row settings.
L1 = {"gan_weight": 0.0, "l1_weight": 100.0}
GAN = {"gan_weight": 1.0, "l1_weight": 0.0, "condition_GAN": False}
CGAN = {"gan_weight": 1.0, "l1_weight": 0.0}
L1_GAN = {"gan_weight": 1.0, "l1_weight": 100.0, "condition_GAN": False}
L1_CGAN = {"gan_weight": 1.0, "l1_weight": 100.0}
# The settings a row leaves alone, so that two rows can be told to be the same run.
ROW_DEFAULTS = {"gan_weight": 1.0, "l1_weight": 100.0, "netG": "unet", "netD": "basic",
                "n_layers_D": None, "condition_GAN": True}

# name -> [(row name, settings)], as in the paper's tables.
TABLES: Dict[str, List[Tuple[str, dict]]] = {
    # Table 1: the objective (on Cityscapes labels -> photos in the paper).
    "losses": [("l1", L1), ("gan", GAN), ("cgan", CGAN), ("l1_gan", L1_GAN), ("l1_cgan", L1_CGAN)],
    # Table 2: skip connections (encoder-decoder against U-Net).
    "generators": [("encoder_decoder_l1", {**L1, "netG": "encoder_decoder"}),
                   ("encoder_decoder_l1_cgan", {**L1_CGAN, "netG": "encoder_decoder"}),
                   ("unet_l1", L1), ("unet_l1_cgan", L1_CGAN)],
    # Table 3: the discriminator's receptive field (1x1 PixelGAN to the 286x286 ImageGAN).
    "discriminators": [("pixel", {**L1_CGAN, "netD": "pixel"}),
                       ("patch16", {**L1_CGAN, "netD": "n_layers", "n_layers_D": 1}),
                       ("patch70", L1_CGAN),
                       ("patch286", {**L1_CGAN, "netD": "n_layers", "n_layers_D": 5})],
}
TABLE_CHOICES = tuple(TABLES) + ("all",)
# A row that cannot be built below a crop size: refused before anything trains.
MINIMUM_CROP = {"patch286": 128}
TABLE_COLUMNS = ("l1", "psnr", "ssim", "delta_e2000", "ab_mae", "colourfulness_ratio")


class ReproduceError(UsageError):
    """A usage error of pix2pix-reproduce: printed as one line, exit status 2."""


@dataclasses.dataclass
class Run:
    """One configuration to train: its folder name, its flags, and the table rows it is."""
    name: str
    settings: dict
    rows: List[Tuple[str, str]]  # (table, row name) it stands for

    @property
    def flags(self) -> List[str]:
        """The settings as pix2pix flags (defaults left out, so the rows read as in the paper)."""
        flags = []
        for key in TABLE_FLAGS:
            value = self.settings.get(key, ROW_DEFAULTS[key])
            if key == "condition_GAN":
                if not value:
                    flags.append("--nocondition_GAN")
            elif key in self.settings:
                flags += [f"--{key}", _flag_value(value)]
        return flags


def _flag_value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def plan_runs(table: str) -> List[Run]:
    """The runs TABLE needs, in order; rows that are the same configuration share one run
    (with `all`: l1 = unet_l1, l1_cgan = unet_l1_cgan = patch70), named after its first row."""
    runs: List[Run] = []
    by_settings = {}
    for table_name in (TABLES if table == "all" else [table]):
        for row, settings in TABLES[table_name]:
            key = tuple(settings.get(k, ROW_DEFAULTS[k]) for k in TABLE_FLAGS)
            if key in by_settings:
                by_settings[key].rows.append((table_name, row))
                continue
            run = Run(row, dict(settings), [(table_name, row)])
            by_settings[key] = run
            runs.append(run)
    return runs
