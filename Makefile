# The two commands of the README. Each creates (or refreshes) .venv, installs, and runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= demo_output

.PHONY: demo test lint install-demo install-test docker clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# The same install step the Docker image runs (docker/Dockerfile): pip install ".[EXTRAS]".
# ... and onnxruntime-web, the runtime of --format web pages, into the user's cache (once; from the npm registry),
# so the browser tests of tests/test_export_web.py run without network.
install-test: $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m data_prep --operation web_runtime

install-demo: $(PY)
	$(PY) -m pip install --quiet -e ".[demo,serve]"

# Tests run in parallel, one worker per core (at most 4: each runs TensorFlow). On 2 cores
# this took the suite from 11 to 7 minutes; `pytest` alone still runs them one by one.
test: install-test
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n auto --maxprocesses 4

# ruff check with the repository's ruff.toml (ruff comes with the test extra).
lint: install-test
	$(PY) -m ruff check .

# The embedded default job: scikit-image's sample photos -> random-crop colorization set, the
# right 30% of every photo held out for val -> a short Lab colorization training run -> test mode
# on the held-out crops, with its metrics printed next to the grey (do-nothing) baseline's.
demo: install-demo
	$(PY) -m data_prep --operation samples --output_dir $(DEMO_DIR)/photos
	$(PY) -m data_prep --operation colorize --singles --input_dir $(DEMO_DIR)/photos \
		--output_dir $(DEMO_DIR)/data --size 143 --crops_per_image 24 --val_region 0.3 --seed 1
	$(PY) -m pix2pix --mode train --lab_colorization --input_dir $(DEMO_DIR)/data/train \
		--output_dir $(DEMO_DIR)/train --crop_size 128 --scale_size 143 --ngf 32 --ndf 32 \
		--batch_size 4 --max_steps 500 --progress_freq 100 --summary_freq 250 --save_freq 500 --seed 1
	$(PY) -m pix2pix --mode test --input_dir $(DEMO_DIR)/data/val --output_dir $(DEMO_DIR)/test \
		--checkpoint $(DEMO_DIR)/train --batch_size 4 --deterministic
	@echo "Colorized photos: open $(DEMO_DIR)/test/index.html (a glance: $(DEMO_DIR)/test/results.png)"

# The GPU image (docker/README.md); needs Docker, not the venv.
docker:
	docker build -f docker/Dockerfile -t pix2pix-tf2 .

clean:
	rm -rf $(VENV) $(DEMO_DIR) *.egg-info
