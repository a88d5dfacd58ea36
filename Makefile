# Thin wrapper: the logic lives in scripts/ and in the invoke tasks.
.PHONY: setup demo test test-faults lint bench clean

setup:
	scripts/setup.sh

demo: setup
	scripts/demo.sh

test: setup
	scripts/test.sh

test-faults: setup
	scripts/test.sh faults

lint: setup
	scripts/test.sh lint

bench: setup
	.venv/bin/python benchmarks/run.py $(BENCH_ARGS)

clean:
	scripts/teardown-all.sh
