# zlayer: a thin wrapper over Meson. `make` builds, `make test` sets up and runs every test,
# `make run` validates and dumps an example deployment.
BUILD     ?= build
ASAN      ?= build-asan
FUZZ      ?= build-fuzz
EXAMPLE   ?= examples/hello.zlayer.yml
FUZZ_SECS ?= 60

.PHONY: all deps test-deps test unit integration run stop fuzz bench format format-check install clean

all: deps
	@[ -d $(BUILD) ] || meson setup $(BUILD) --buildtype=debugoptimized
	ninja -C $(BUILD)

deps:
	@./scripts/install-deps build

test-deps:
	@./scripts/install-deps all

# Unit and integration tests under AddressSanitizer + UBSan, then a summary line.
test: test-deps
	@[ -d $(ASAN) ] || CC=clang meson setup $(ASAN) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(ASAN)
	@./scripts/run-tests $(ASAN)

unit: test-deps
	@[ -d $(ASAN) ] || CC=clang meson setup $(ASAN) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(ASAN)
	meson test -C $(ASAN) --suite unit --print-errorlogs

run: all
	@./scripts/install-deps run
	./scripts/try

# Stop what `make run` started: the example deployment, then the daemon.
stop:
	-ZLAYER_ROOT_DIR=$(CURDIR)/.zlayer-try/root ZLAYER_RUNTIME_DIR=$(CURDIR)/.zlayer-try/run ./$(BUILD)/zlayer down hello
	-kill $$(cat $(CURDIR)/.zlayer-try/run/zlayer.pid 2>/dev/null) 2>/dev/null

fuzz: test-deps
	@[ -d $(FUZZ) ] || CC=clang meson setup $(FUZZ) --buildtype=debug -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link
	ninja -C $(FUZZ) tests/fuzz_spec tests/fuzz_http tests/fuzz_frames tests/fuzz_dns tests/fuzz_pp tests/fuzz_h1
	./scripts/fuzz $(FUZZ) $(FUZZ_SECS)

bench: all
	@./scripts/install-deps bench
	./bench/spec.sh ./$(BUILD)/zlayer
	./bench/runtime.sh ./$(BUILD)/zlayer
	./bench/pull.sh ./$(BUILD)/zlayer
	./bench/deploy.sh ./$(BUILD)/zlayer
	./bench/health.sh ./$(BUILD)/zlayer
	./bench/net.sh ./$(BUILD)/zlayer
	./bench/proxy.sh ./$(BUILD)/zlayer
	./bench/dns.sh ./$(BUILD)/zlayer

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

install: all
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
