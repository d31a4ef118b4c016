"""Model spec options are checked by name, type and range before anything loads: each mistake is
one SpecError line naming the option and what was expected, and a key written into a base_url
is refused without ever being echoed."""

from __future__ import annotations

import pytest

from agents.registry import check_spec, load_model
from debate.errors import ConfigError, SpecError
from protocols.config import parse_config
from helpers import debate

SECRET = "sk-SECRET-123"
KEY_IN_URL = ("option 'base_url' for openai models: a key in the URL would be saved with every run; put it in "
              "the environment variable named by api_key_env (default OPENAI_API_KEY)")
EXAMPLE = "e.g. http://127.0.0.1:8000/v1"

# (spec, options from a config file, the whole message)
BAD = [
    (f"openai:m?base_url=http://user:{SECRET}@127.0.0.1:9/v1", None, KEY_IN_URL),
    (f"openai:m?base_url=https://{SECRET}@api.example.com/v1", None, KEY_IN_URL),
    ("openai:m", {"base_url": f"http://user:{SECRET}@127.0.0.1:9/v1"}, KEY_IN_URL),
    ("openai:m?base_url=ftp://127.0.0.1/v1", None,
     f"option 'base_url' for openai models: expected an http:// or https:// URL, {EXAMPLE}"),
    ("openai:m?base_url=localhost:8000/v1", None,
     f"option 'base_url' for openai models: expected an http:// or https:// URL, {EXAMPLE}"),
    ("openai:m?base_url=http:///v1", None,
     f"option 'base_url' for openai models: expected a URL with a host, {EXAMPLE}"),
    ("openai:m?base_url=http://127.0.0.1:99999/v1", None,
     f"option 'base_url' for openai models: expected a host and a port from 1 to 65535, {EXAMPLE}"),
    ("openai:m?base_url=http://127.0.0.1:0/v1", None,
     f"option 'base_url' for openai models: expected a port from 1 to 65535, {EXAMPLE}"),
    (f"openai:m?base_url=http://127.0.0.1/v1?key={SECRET}", None,
     f"option 'base_url' for openai models: expected a URL without a ?query or #fragment, {EXAMPLE}"),
    ("openai:m", {"base_url": "http://127.0.0.1/v1#top"},
     f"option 'base_url' for openai models: expected a URL without a ?query or #fragment, {EXAMPLE}"),
    ("openai:m", {"base_url": 8000},
     f"option 'base_url' for openai models: expected an http:// or https:// URL without spaces, {EXAMPLE}"),
    ("openai:m?concurrency=1.5", None,
     "option 'concurrency' for openai models: expected an integer from 1 to 1024, got 1.5"),
    ("openai:m?concurrency=100000", None,
     "option 'concurrency' for openai models: expected an integer from 1 to 1024, got 100000"),
    ("openai:m?concurrency=true", None,
     "option 'concurrency' for openai models: expected an integer from 1 to 1024, got True"),
    ("openai:m?timeout=abc", None,
     "option 'timeout' for openai models: expected a number from 0.01 to 3600, got 'abc'"),
    ("openai:m?timeout=0", None, "option 'timeout' for openai models: expected a number from 0.01 to 3600, got 0"),
    ("openai:m?timeout=nan", None, "option 'timeout' for openai models: expected a number from 0.01 to 3600, got nan"),
    ("openai:m?max_retries=-1", None,
     "option 'max_retries' for openai models: expected an integer from 0 to 100, got -1"),
    ("openai:m", {"max_retries": 1000},
     "option 'max_retries' for openai models: expected an integer from 0 to 100, got 1000"),
    ("openai:m?backoff=-1", None, "option 'backoff' for openai models: expected a number from 0 to 60, got -1"),
    ("openai:m?max_backoff=1e9", None,
     "option 'max_backoff' for openai models: expected a number from 0 to 600, got 1000000000.0"),
    ("openai:m?price_in=abc", None,
     "option 'price_in' for openai models: expected a number from 0 to 10000, got 'abc'"),
    ("openai:m?price_out=-2", None, "option 'price_out' for openai models: expected a number from 0 to 10000, got -2"),
    (f"openai:m?api_key_env={SECRET}", None,
     "option 'api_key_env' for openai models: expected the name of an environment variable"),
    ("gguf:smollm2?n_parallel=0", None, "option 'n_parallel' for gguf models: expected an integer from 1 to 64, got 0"),
    ("gguf:smollm2?n_ctx=abc", None,
     "option 'n_ctx' for gguf models: expected an integer from 128 to 131072, got 'abc'"),
    ("gguf:smollm2?threads=1.5", None, "option 'threads' for gguf models: expected an integer from 1 to 512, got 1.5"),
    ("gguf:smollm2?concurrency=100000", None,
     "option 'concurrency' for gguf models: expected an integer from 1 to 1024, got 100000"),
    ("gguf:smollm2?timeout=-1", None, "option 'timeout' for gguf models: expected a number from 0.01 to 3600, got -1"),
    ("gguf:smollm2?max_retries=false", None,
     "option 'max_retries' for gguf models: expected an integer from 0 to 100, got False"),
    ("hf:/no/such/model?device=abc", None, "option 'device' for hf models: expected auto, cpu, mps, cuda or cuda:N"),
    ("hf:/no/such/model?dtype=bogus", None,
     "option 'dtype' for hf models: expected auto, float32, float16 or bfloat16"),
    ("hf:/no/such/model?max_batch_size=0", None,
     "option 'max_batch_size' for hf models: expected an integer from 1 to 1024, got 0"),
    ("sim:x?accuracy=2", None,
     "bad sim parameters for 'x': parameter 'accuracy': expected a number from 0 to 1, got 2"),
    ("sim:x?accuracy=abc", None,
     "bad sim parameters for 'x': parameter 'accuracy': expected a number from 0 to 1, got 'abc'"),
    ("sim:x?accuracy=true", None,
     "bad sim parameters for 'x': parameter 'accuracy': expected a number from 0 to 1, got True"),
    ("sim:strong?latency=100", None,
     "bad sim parameters for 'strong': parameter 'latency': expected a number from 0 to 60, got 100"),
    ("sim:x?seed=1.5", None, "bad sim parameters for 'x': parameter 'seed': expected an integer, got 1.5"),
    ("sim:x?acuracy=0.5", None,
     "bad sim parameters for 'x': unknown parameter 'acuracy' (expected one of accuracy, accept_correct, "
     "accept_wrong, abandon, acceptant_shift, resistant_shift, seed, latency)"),
    (f"opena:m?base_url=http://user:{SECRET}@127.0.0.1/v1", None,
     "unknown model spec 'opena:m?base_url=http://***@127.0.0.1/v1' (expected KIND:TARGET with KIND one of openai, "
     "hf, vllm, gguf, sim; e.g. gguf:smollm2, sim:strong, openai:gpt-4o-mini, hf:./model)"),
    (f"openai:?base_url=http://user:{SECRET}@127.0.0.1/v1", None,
     "model spec 'openai:?base_url=http://***@127.0.0.1/v1' names no model after 'openai:'"),
]


@pytest.mark.parametrize("spec,options,expected", BAD, ids=[f"{s} {o or ''}" for s, o, _ in BAD])
def test_a_bad_option_is_one_line_naming_it(spec, options, expected):
    with pytest.raises(SpecError) as caught:
        check_spec(spec, options)
    assert str(caught.value) == expected


@pytest.mark.parametrize("spec,options", [
    ("openai:m?base_url=http://127.0.0.1:8000/v1&concurrency=1024&timeout=0.5&max_retries=0&price_in=0", None),
    ("openai:m?base_url=https://api.example.com/v1&api_key_env=MY_KEY_2&backoff=0&max_backoff=600", None),
    ("openai:m?base_url=http://[::1]:8000/v1", {"timeout": 30, "price_out": 2.5}),
    ("gguf:smollm2?n_parallel=64&n_ctx=128&threads=2&concurrency=1&timeout=3600&max_retries=100", None),
    ("sim:x?accuracy=1&abandon=0&seed=-3&latency=0.5", None),
])
def test_good_options_pass(spec, options):
    check_spec(spec, options)


def test_loading_refuses_what_checking_refuses(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with pytest.raises(SpecError, match="option 'base_url'"):
        load_model(f"openai:m?base_url=http://user:{SECRET}@127.0.0.1:9/v1")
    with pytest.raises(SpecError, match="option 'concurrency'"):
        load_model("openai:m?base_url=http://127.0.0.1:9/v1", {"concurrency": 100000})


def test_a_config_with_a_key_in_its_options_table_is_refused_without_echo():
    data = {"protocol": {"kind": "debate"}, "agents": {"A": {"model": "openai:m", "options": {
        "base_url": f"http://user:{SECRET}@127.0.0.1:9/v1"}}, "B": {"model": "sim:weak"}}}
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert str(caught.value) == f"<config>: field 'agents.A.options.base_url': {KEY_IN_URL}"


def one_line(run) -> str:
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    line = run.stderr.strip()
    assert "\n" not in line and "Traceback" not in line and line.startswith("error: "), run.stderr
    assert SECRET not in run.stderr + run.stdout and "pydantic" not in line
    return line


def test_the_cli_never_prints_a_key_given_in_a_base_url():
    line = one_line(debate("ask", f"openai:m?base_url=http://user:{SECRET}@127.0.0.1:9/v1", "hi"))
    assert line == f"error: {KEY_IN_URL}"


@pytest.mark.parametrize("agent,where,expected", [
    (f'model = "openai:m"\noptions = {{base_url = "http://user:{SECRET}@127.0.0.1:9/v1"}}',
     "5: field 'agents.A.options.base_url'", KEY_IN_URL),
    ('model = "openai:m?base_url=http://127.0.0.1:99999/v1"', "4: field 'agents.A.model'",
     "expected a host and a port from 1 to 65535"),
    ('model = "openai:m?base_url=http://127.0.0.1:9/v1"\noptions = {concurrency = 100000}',
     "5: field 'agents.A.options.concurrency'",
     "option 'concurrency' for openai models: expected an integer from 1 to 1024, got 100000"),
], ids=["key-in-options", "port", "concurrency"])
def test_a_run_with_a_bad_option_stops_before_writing(tmp_path, agent, where, expected):
    config = tmp_path / "run.toml"
    config.write_text(f'[protocol]\nkind = "debate"\n[agents.A]\n{agent}\n[agents.B]\nmodel = "sim:weak"\n')
    line = one_line(debate("run", str(config), "--out", str(tmp_path / "out"), "--no-progress"))
    assert line.startswith(f"error: {config}:{where}: ") and expected in line
    assert not (tmp_path / "out").exists()  # so no file there holds the key


@pytest.mark.parametrize("args,expected", [
    (["sim:x?accuracy=2", "hi", "--gold", "x"],
     "error: bad sim parameters for 'x': parameter 'accuracy': expected a number from 0 to 1, got 2"),
    (["hf:/no/such/model?device=abc", "hi"], "error: option 'device' for hf models: expected auto, cpu, mps, cuda"),
    (["openai:m?base_url=http://127.0.0.1:9/v1", "hi", "-o", "timeout=abc"],
     "error: option 'timeout' for openai models: expected a number from 0.01 to 3600, got 'abc'"),
], ids=["sim", "hf-device", "cli-option"])
def test_ask_with_a_bad_option(args, expected):
    assert one_line(debate("ask", *args)).startswith(expected)


@pytest.mark.parametrize("blank", ["", "   "])
def test_ask_with_an_empty_api_key(monkeypatch, blank):
    monkeypatch.setenv("OPENAI_API_KEY", blank)
    assert one_line(debate("ask", "openai:gpt-x?base_url=http://127.0.0.1:9/v1", "hi")) == (
        "error: OPENAI_API_KEY is set but empty: give the key, or unset the variable (a local endpoint needs none)")


def test_an_hf_model_on_a_device_torch_lacks_is_one_line(tiny_model_dir):
    # Checked at load, after torch is imported: no machine here has a hundred GPUs.
    line = one_line(debate("ask", f"hf:{tiny_model_dir}?device=cuda:99", "hi"))
    assert line == "error: device 'cuda:99' is not available to torch on this machine"
