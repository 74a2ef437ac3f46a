"""Turn a folder of photos into pix2pix A|B training sets.

usage: python -m data_prep --operation OP --input_dir IN --output_dir OUT [flags]

operations: grayscale, resize, blank, combine, edges, colorize, filter_grey, split, samples, download,
            download_model, web_runtime
example:    python -m data_prep --operation colorize --input_dir photos \\
                --output_dir datasets/colorize --size 256 --val_frac 0.1 --workers 2
Full documentation: docs/data_prep.md
"""

from data_prep.cli import run

if __name__ == "__main__":
    run()
