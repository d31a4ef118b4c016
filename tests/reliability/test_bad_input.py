"""The bad-input corpus (tests/bad_input/): every case is one clear line on stderr naming the
file, the line and the field where they exist, exit code 2, no traceback, nothing written or
changed (the harness `refused` of test_hostile.py, which holds the rest of the corpus)."""

from __future__ import annotations


import pytest

from helpers import TESTS, refused

CORPUS = TESTS / "bad_input"

# (file, command, what the one line must say)
QUESTION_FILES = [
    ("malformed_json.jsonl", "malformed_json.jsonl:2: invalid JSON: Expecting ',' delimiter"),
    ("wrong_type.jsonl", "wrong_type.jsonl:1: field 'gold': Input should be a valid list"),
    ("missing_field.jsonl", "missing_field.jsonl:2: field 'text': missing (required)"),
    ("duplicate_ids.jsonl", "duplicate_ids.jsonl:2: field 'id': duplicate id 'q1' (first on line 1)"),
    ("empty.jsonl", "empty.jsonl: no questions (empty file)"),
    ("blank_lines.jsonl", "blank_lines.jsonl: no questions (empty file)"),
    ("not_utf8.jsonl", "not_utf8.jsonl:1: not UTF-8 text (byte 26 of the line)"),
    ("unknown_field.jsonl", "unknown_field.jsonl:1: field 'answer': unknown field"),
    ("bad_kind.jsonl", "bad_kind.jsonl:1: field 'kind': Input should be 'open', 'yes-no' or 'multiple-choice'"),
    ("mc_without_options.jsonl", "mc_without_options.jsonl:1: field 'options': a multiple-choice question needs"),
    ("yes_no_bad_gold.jsonl", "yes_no_bad_gold.jsonl:1: field 'gold': a yes-no question needs gold"),
    ("not_an_object.jsonl", "not_an_object.jsonl:1: expected a JSON object, got list"),
    ("empty_gold.jsonl", "empty_gold.jsonl:1: field 'gold': List should have at least 1 item"),
]
TREE_FILES = [
    ("tree_wrong_version.jsonl", "tree_wrong_version.jsonl:1: field 'version': version 7 is not supported"),
    ("tree_wrong_format.jsonl", "tree_wrong_format.jsonl:1: field 'format': not a dialogue tree"),
    ("tree_not_json.jsonl", "tree_not_json.jsonl:1: invalid JSON: Expecting value"),
    ("tree_missing_question.jsonl", "tree_missing_question.jsonl:1: field 'question': missing (required)"),
    ("tree_bad_edge.jsonl", "tree_bad_edge.jsonl:1: field 'graph': not a tree rooted at 'r'"),
    ("malformed_json.jsonl", "malformed_json.jsonl:1: field 'format': not a dialogue tree"),  # a question file
]
CONFIGS = [
    ("config_unknown_key.toml", "config_unknown_key.toml:2: field 'colour': unknown key"),
    ("config_rounds_zero.toml", "config_rounds_zero.toml:3: field 'protocol.rounds': Input should be greater"),
    ("config_negative_limit.toml", "config_negative_limit.toml:1: field 'limit': Input should be greater"),
    ("config_zero_window.toml", "config_zero_window.toml:1: field 'window': Input should be greater"),
    ("config_unknown_protocol.toml", "config_unknown_protocol.toml:2: field 'protocol.kind': "
                                     "unknown protocol 'lecture'"),
    ("config_unknown_persona.toml", "config_unknown_persona.toml:5: field 'agents.A.persona': unknown persona 'sly'"),
    ("config_unknown_spec.toml", "config_unknown_spec.toml:4: field 'agents.A.model': unknown model spec 'gpt:4'"),
    ("config_unknown_sim_preset.toml", "config_unknown_sim_preset.toml:4: field 'agents.A.model': unknown sim preset "
                                       "'genius' (presets: oracle, strong, weak, gullible, stubborn, calibrated; "
                                       "or give parameters, e.g. sim:genius?accuracy=0.7)"),
    ("config_bad_toml.toml", "config_bad_toml.toml:1: invalid TOML: Expected ']'"),
    ("config_missing_protocol.toml", "config_missing_protocol.toml: field 'protocol': missing (required)"),
    ("config_unknown_reader.toml", "config_unknown_reader.toml:1: field 'reader': unknown answer reader 'psychic'"),
    ("config_negative_temperature.toml", "config_negative_temperature.toml:5: field 'agents.A.temperature'"),
    ("config_judge_missing.toml", "config_judge_missing.toml:1: field 'protocol.judge': final = 'judge' needs a judge"),
    ("config_seed_not_integer.toml", "config_seed_not_integer.toml:1: field 'seed': Input should be a valid integer"),
    ("config_missing_agent.toml", "config_missing_agent.toml:3: field 'agents': protocol 'debate' needs an agent "
                                  "named 'B'"),
    ("config_missing_model_file.toml", "config_missing_model_file.toml:4: field 'agents.A.model': "
                                       "/no/such/model.gguf: no such model file"),
    ("config_missing_hf_model.toml", "config_missing_hf_model.toml:4: field 'agents.A.model': /no/such/model-dir: "
                                     "not a transformers model folder"),
    ("config_empty_personas.toml", "config_empty_personas.toml:5: field 'protocol.levels.0.personas': List should"),
    ("config_unreachable_endpoint.toml", "field 'agents.A.model': cannot reach http://127.0.0.1:9 "
                                         "(Connection refused)"),
]




def test_the_corpus_is_complete():
    named = {name for name, _ in QUESTION_FILES + TREE_FILES + CONFIGS}
    assert named == {p.name for p in CORPUS.iterdir()}  # every file is a case, every case has its file
    assert len(QUESTION_FILES) + len(TREE_FILES) + len(CONFIGS) + 3 >= 30  # + the generated cases below


@pytest.mark.parametrize("name,expected", QUESTION_FILES, ids=[c[0] for c in QUESTION_FILES])
def test_bad_question_files(work, name, expected):
    refused(["questions", CORPUS / name], expected, work, watch=[CORPUS])


@pytest.mark.parametrize("name,expected", TREE_FILES, ids=[c[0] for c in TREE_FILES])
def test_bad_tree_files(work, name, expected):
    refused(["show", CORPUS / name], expected, work, watch=[CORPUS])
    refused(["export", CORPUS / name, "--out", "graphml"], expected, work, watch=[CORPUS])


@pytest.mark.parametrize("name,expected", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_bad_configs(work, name, expected):
    refused(["run", CORPUS / name, "--out", "out", "--no-progress"], expected, work, watch=[CORPUS])


def test_a_huge_line(work):
    work.write("huge.jsonl", '{"id": "q1", "text": "t", "gold": ["x"]}\n{"id": "q2", "text": "' + "x" * 3_000_000
               + '"}\n')
    refused(["questions", "huge.jsonl"], ("huge.jsonl:2: ", "1,048,576"), work)


def test_replay_of_a_question_file(work):
    work.write("replay.toml", f'questions = "{CORPUS / "duplicate_ids.jsonl"}"\n[protocol]\nkind = "replay"\n'
                              '[agents.model]\nmodel = "sim:strong"\n')
    refused(["run", "replay.toml", "--out", "out", "--no-progress"],
            "duplicate_ids.jsonl:1: field 'format': not a dialogue tree", work, watch=[CORPUS])


def test_a_run_directory_of_someone_else(work):
    work.write("out/trees.jsonl", "precious data\n")
    config = CORPUS.parent.parent / "experiments" / "configs" / "sim-debate.toml"
    refused(["run", config, "--out", "out", "--no-progress"],
            "holds trees.jsonl but no config.json; not a run directory of this tool", work)  # nothing lost
