# The README's two commands: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install clean model figures

$(BIN)/voxgender: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,train,formats,serve,batch,plot,demo,listen]"
	touch $@

install: $(BIN)/voxgender

demo: install
	$(BIN)/voxgender demo

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

# The bundled model and its card, from ../shared/data: train with the recipe (benchmarks/bundled_recipe.args,
# which the leave-one-corpus-out models of accuracy_benchmark.py share), calibrate p_female on the
# validation speakers, add the speaker encoder (Resemblyzer's weights, from its wheel on PyPI, with its
# probe fitted on the training speakers), score the choosing panel on validation and test speakers with
# and without the encoder, write the card.
DATA ?= ../shared/data
RUN ?= runs/bundled
BUNDLED := src/voxgender/pretrained/voxgender-gru
PANEL := benchmarks/results/panel
RECIPE := $(shell grep -v '^\#' benchmarks/bundled_recipe.args)
WHEEL := runs/resemblyzer/Resemblyzer-0.1.4-py3-none-any.whl
$(WHEEL):
	$(BIN)/python -m pip download --quiet resemblyzer==0.1.4 --no-deps -d $(dir $(WHEEL))
model: install $(WHEEL)
	$(BIN)/voxgender train --data $(DATA) --exclude-children --out $(RUN) --threads 1 $(RECIPE)
	$(BIN)/voxgender calibrate --model $(RUN) --data $(DATA) --split val
	$(BIN)/voxgender add-encoder --model $(RUN) --data $(DATA) --wheel $(WHEEL)
	$(BIN)/python benchmarks/accuracy_benchmark.py pooled --model $(RUN) --out $(RUN)/benchmark
	$(BIN)/python benchmarks/panel.py --model $(RUN) --split val --out $(PANEL)/bundled_val
	$(BIN)/python benchmarks/panel.py --model $(RUN) --split test --out $(PANEL)/bundled_test
	$(BIN)/python benchmarks/panel.py --model $(RUN) --split test --encoder --out $(PANEL)/bundled_test_encoder
	$(BIN)/python benchmarks/panel_summary.py --results $(PANEL)
	$(BIN)/voxgender card --model $(RUN) --name voxgender-gru --data $(DATA) \
		--evaluation "Held-out test speakers (adults)=$(RUN)/benchmark/pooled_test/metrics.json" \
		"Children under 13 (never trained on)=$(RUN)/benchmark/pooled_children/metrics.json" \
		--figures $(PANEL)/README.md
	mkdir -p $(BUNDLED)
	cp $(RUN)/model.safetensors $(RUN)/model.onnx $(RUN)/config.json $(RUN)/splits.json $(RUN)/MODEL_CARD.md \
		$(RUN)/speaker_encoder.onnx $(RUN)/speaker_encoder.LICENSE $(BUNDLED)/

# Every benchmark figure of the bundled model, and its card rewritten with them (leave-one-corpus-out
# trains five models of two networks each, the most of its time). Run after `make model`.
PEERS := benchmarks/.venv-peers/bin/python
figures: install
	bash benchmarks/peers/setup.sh
	$(PEERS) benchmarks/label_audit.py
	$(BIN)/python benchmarks/accuracy_benchmark.py all
	$(BIN)/python benchmarks/speed_benchmark.py --clips 3517
	$(PEERS) benchmarks/peers_benchmark.py
	$(BIN)/python benchmarks/robustness_benchmark.py
	$(BIN)/python benchmarks/figures.py
	$(BIN)/voxgender card --model $(BUNDLED) --name voxgender-gru --data $(DATA) \
		--evaluation "Held-out test speakers (adults)=benchmarks/results/accuracy/pooled_test/metrics.json" \
		"Children under 13 (never trained on)=benchmarks/results/accuracy/pooled_children/metrics.json" \
		--figures benchmarks/results/figures.md

clean:
	rm -rf $(VENV) build src/*.egg-info
