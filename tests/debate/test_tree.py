"""DialogueTree: structure, lossless JSON, atomic saving, one-line errors, GraphML export."""

from __future__ import annotations

import copy
import json

import networkx as nx
import pytest

from debate.errors import DataError, UserError
from debate.tree import ROOT, DialogueTree, load_trees, save_trees
from helpers import QUESTION, make_turn, pbt_tree

def test_pbt_shaped_tree_structure():
    tree = pbt_tree()
    assert len(tree) == 21 and tree.tree_id == "q1"
    assert len(tree.leaves()) == 12 and all(tree.level(n) == 3 for n in tree.leaves())
    assert {lvl: len(ns) for lvl, ns in tree.levels().items()} == {0: 1, 1: 2, 2: 6, 3: 12}
    assert tree.nodes() == [n for lvl in sorted(tree.levels()) for n in tree.levels()[lvl]]
    assert tree.children(ROOT) == ["r.0"] and tree.children("r.0") == ["r.0.0", "r.0.1"]
    assert tree.children("r.0.1") == ["r.0.1.0", "r.0.1.1", "r.0.1.2"]
    # A node id is its path: the parent's id plus the child's position.
    for node in tree.nodes():
        parent = tree.parent(node)
        assert node == f"{parent}.{tree.children(parent).index(node)}"
        assert tree.path(node)[-1] == node and len(tree.path(node)) == tree.level(node) + 1
        assert tree.round(node) == tree.level(node)
    leaf = "r.0.1.2.0"
    assert tree.path(leaf) == ["r.0", "r.0.1", "r.0.1.2", leaf]
    assert [t.speaker for t in tree.path_turns(leaf)] == ["A", "B", "A", "B"]
    assert [t.persona for t in tree.path_turns(leaf)] == ["neutral", "acceptant", "credibility", "resistant"]
    assert tree.siblings("r.0.1.1") == ["r.0.1.0", "r.0.1.2"] and tree.siblings("r.0") == []
    assert tree.parent("r.0") == ROOT and tree.path(ROOT) == []


def test_linear_debate_and_rounds():
    tree = DialogueTree(QUESTION, tree_id="debate-7")
    node = ROOT
    for i, speaker in enumerate("ABAB"):
        # Both opening answers share round 0 (independent), later turns are rounds 1 and 2.
        node = tree.add_turn(node, make_turn(speaker, "neutral", "Paris", None), round=max(0, i - 1))
    assert node == "r.0.0.0.0" and tree.leaves() == [node] and len(tree) == 4
    assert [tree.round(n) for n in tree.path(node)] == [0, 0, 1, 2]
    assert [tree.level(n) for n in tree.nodes()] == [0, 1, 2, 3]
    assert tree.tree_id == "debate-7" and tree.siblings("r.0.0") == []


def test_unknown_nodes_are_clear_errors():
    tree = pbt_tree()
    with pytest.raises(ValueError, match="unknown parent node 'r.5' in tree 'q1'"):
        tree.add_turn("r.5", make_turn("A", "neutral", "Paris", None))
    with pytest.raises(ValueError, match="unknown node 'r.0.9'"):
        tree.turn("r.0.9")
    with pytest.raises(ValueError, match="the root holds the question"):
        tree.turn(ROOT)


def test_json_round_trip_is_lossless():
    tree = pbt_tree()
    tree.add_turn("r.0.0", make_turn("A", "logical", "Rome", "Lyon", error="TimeoutError: no reply"))
    again = DialogueTree.from_json(tree.to_json())
    assert again.to_dict() == tree.to_dict()
    assert again.nodes() == tree.nodes() and again.leaves() == tree.leaves()
    assert all(again.turn(n) == tree.turn(n) for n in tree.nodes())
    assert again.turn("r.0.0.3").error == "TimeoutError: no reply"
    assert again.question == QUESTION and again.metadata == {"run": "unit"}
    # The graph is plain node-link data that networkx itself reads.
    graph = nx.node_link_graph(tree.to_dict()["graph"], directed=True, multigraph=False, edges="edges")
    assert nx.is_arborescence(graph) and graph.number_of_nodes() == 23


def test_round_trip_keeps_depth_first_insertion_order_and_rounds():
    tree = DialogueTree(QUESTION)
    a = tree.add_turn(ROOT, make_turn("A", "neutral", "Paris", None))
    deep = tree.add_turn(tree.add_turn(a, make_turn("B", "resistant", "Lyon", "Paris"), round=0),
                         make_turn("A", "logical", "Paris", "Lyon"))
    late = tree.add_turn(a, make_turn("B", "acceptant", "Paris", "Paris"), round=0)
    assert tree.leaves() == [deep, late]
    again = DialogueTree.from_dict(json.loads(tree.to_json()))
    assert again.leaves() == [deep, late] and again.round(late) == 0 and again.to_dict() == tree.to_dict()


def test_save_and_load_are_atomic(tmp_path, monkeypatch):
    tree = pbt_tree()
    path = tree.save(tmp_path / "out" / "tree.json")
    assert DialogueTree.load(path).to_dict() == tree.to_dict()
    before = path.read_text()
    tree.add_turn("r.0", make_turn("B", "neutral", "Paris", "Paris"))

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr("debate.storage.os.replace", crash)
    with pytest.raises(UserError, match="cannot write: disk full"):
        tree.save(path)
    assert path.read_text() == before and sorted(p.name for p in path.parent.iterdir()) == ["tree.json"]


def test_jsonl_of_trees_and_errors_name_the_line(tmp_path):
    trees = [pbt_tree(), DialogueTree(QUESTION.model_copy(update={"id": "q2"}))]
    path = save_trees(tmp_path / "trees.jsonl", trees)
    assert len(path.read_text().splitlines()) == 2
    loaded = load_trees(path)
    assert [t.to_dict() for t in loaded] == [t.to_dict() for t in trees] and len(loaded[1]) == 0
    bad = trees[1].to_dict() | {"version": 7}
    path.write_text(trees[0].to_json() + "\n\n" + json.dumps(bad) + "\n{oops\n")
    with pytest.raises(DataError) as info:
        load_trees(path)
    assert str(info.value) == f"{path}:3: field 'version': version 7 is not supported (expected one of 1, 2)"
    path.write_text(trees[0].to_json() + "\n{oops\n")
    with pytest.raises(DataError, match=r"trees\.jsonl:2: invalid JSON"):
        load_trees(path)
    with pytest.raises(DataError, match="missing.jsonl: no such file"):
        load_trees(tmp_path / "missing.jsonl")


def _node(doc: dict, node_id: str) -> dict:
    return next(n for n in doc["graph"]["nodes"] if n["id"] == node_id)


def _break(doc: dict, how: str) -> None:
    graph = doc["graph"]
    if how == "format":
        doc["format"] = "chat-log"
    elif how == "version":
        doc["version"] = 7
    elif how == "unknown key":
        doc["colour"] = "blue"
    elif how == "no question":
        del doc["question"]
    elif how == "bad question":
        doc["question"]["gold"] = []
    elif how == "bad turn":
        del _node(doc, "r.0.1")["turn"]["text"]
    elif how == "bad turn field":
        _node(doc, "r.0.1.2")["turn"]["usage"]["prompt_tokens"] = "many"
    elif how == "no root":
        graph["nodes"] = [n for n in graph["nodes"] if n["id"] != ROOT]
    elif how == "two parents":
        graph["edges"].append({"source": "r.0.1", "target": "r.0.0.0"})
    elif how == "orphan":
        graph["edges"] = [e for e in graph["edges"] if e["target"] != "r.0.1"]
    elif how == "not a path":
        graph["edges"][1]["source"] = "r.0.1.0"
    elif how == "edge to root":
        graph["edges"].append({"source": "r.0", "target": ROOT})
    elif how == "level":
        _node(doc, "r.0.1")["level"] = 3
    elif how == "graph":
        doc["graph"] = [1, 2]


BAD = {
    "format": "field 'format': not a dialogue tree (format 'chat-log', expected 'debate-tree')",
    "version": "field 'version': version 7 is not supported (expected one of 1, 2)",
    "unknown key": "field 'colour': unknown field (not in the dialogue tree format)",
    "no question": "field 'question': missing (required)",
    "bad question": "field 'question.gold': List should have at least 1 item after validation, not 0",
    "bad turn": "field 'graph.nodes[r.0.1].turn.text': missing (required)",
    "bad turn field": "field 'graph.nodes[r.0.1.2].turn.usage.prompt_tokens': Input should be a valid integer, "
                      "unable to parse string as an integer",
    "no root": "field 'graph': not a tree rooted at 'r': no node 'r'",
    "two parents": "field 'graph': not a tree rooted at 'r': node 'r.0.0.0' has two parents ('r.0.0' and 'r.0.1')",
    "orphan": "field 'graph': not a tree rooted at 'r': node 'r.0.1' has no parent",
    "not a path": "field 'graph': not a tree rooted at 'r': child 'r.0.0' of 'r.0.1.0' should be 'r.0.1.0.0' "
                  "(node ids are paths, children numbered in order)",
    "edge to root": "field 'graph': not a tree rooted at 'r': edge r.0 -> r does not lead from a node to a turn node",
    "level": "field 'graph.nodes[r.0.1].level': level 3 does not match the node's depth 1",
    "graph": "field 'graph': expected node-link data with 'nodes' and 'edges' lists",
}


@pytest.mark.parametrize("how", sorted(BAD))
def test_bad_documents_are_one_line_data_errors(how):
    doc = pbt_tree().to_dict()
    bad = copy.deepcopy(doc)
    _break(bad, how)
    with pytest.raises(DataError) as info:
        DialogueTree.from_dict(bad, source="trees/t.json")
    assert str(info.value) == "trees/t.json: " + BAD[how]
    assert "\n" not in str(info.value) and info.value.file == "trees/t.json"
    DialogueTree.from_dict(doc)  # the unbroken document still loads


def test_invalid_json_text_is_a_data_error():
    with pytest.raises(DataError, match=r"^t\.json:1: invalid JSON: Expecting value \(column 1\)$"):
        DialogueTree.from_json("nope", source="t.json")
    with pytest.raises(DataError, match=r"^t\.json: expected a JSON object, got list$"):
        DialogueTree.from_json("[]", source="t.json")


def test_graphml_export_reads_back(tmp_path):
    tree = pbt_tree()
    tree.add_turn("r.0", make_turn("B", "neutral", "Lyon", "Paris", error="boom"))
    path = tree.to_graphml(tmp_path / "tree.graphml")
    graph = nx.read_graphml(path)
    assert graph.number_of_nodes() == 23 and graph.number_of_edges() == 22 and graph.is_directed()
    assert graph.nodes[ROOT]["text"] == QUESTION.text and json.loads(graph.nodes[ROOT]["gold"]) == ["Paris"]
    node = graph.nodes["r.0.1.2"]
    assert node["text"] == tree.turn("r.0.1.2").text and node["persona"] == "credibility"
    assert node["level"] == 2 and node["round"] == 2 and node["reader"] == "final-line"
    assert json.loads(node["answers"]) == tree.turn("r.0.1.2").answers
    assert node["completion_tokens"] == 9 and "error" not in node and graph.nodes["r.0.2"]["error"] == "boom"
    assert graph.graph["tree_id"] == "q1"


def test_saved_tree_errors_name_the_line_of_the_file(tmp_path, monkeypatch):
    path = pbt_tree().save(tmp_path / "tree.json")
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace('"', "", 1)  # breaks line 4 of the indented document
    path.write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"tree\.json:4: invalid JSON: "):
        DialogueTree.load(path)
    # A document of many short lines is bounded too, in all (each line is bounded by read_lines).
    monkeypatch.setattr("debate.tree.MAX_LINE_BYTES", 1000)
    pbt_tree().save(path)
    with pytest.raises(DataError) as info:
        DialogueTree.load(path)
    assert str(info.value).startswith(f"{path}:") and "longer than 1,000 bytes; a dialogue tree may have at most" \
        in str(info.value)


def test_deep_huge_or_unwritable_json_trees_are_data_errors(tmp_path):
    good = pbt_tree().to_dict()
    deep = copy.deepcopy(good)
    deep["metadata"]["nested"] = json.loads("[" * 200 + "]" * 200)
    lines = {"deep": json.dumps(deep), "far too deep": "[" * 100_000 + "]" * 100_000,
             "huge integer": json.dumps(good)[:-1] + ', "n": ' + "9" * 10_000 + "}",
             "lone surrogate": json.dumps(good).replace('"q1"', '"q1\\udc00"', 1)}
    expected = {"deep": "JSON nested more than 64 levels deep", "far too deep": "JSON nested more than 64 levels deep",
                "huge integer": "a JSON number has more than 4,300 digits",
                "lone surrogate": "a JSON string holds a lone surrogate (not a Unicode character)"}
    for case, line in lines.items():
        path = tmp_path / "trees.jsonl"
        path.write_text(json.dumps(good) + "\n" + line + "\n")
        with pytest.raises(DataError) as info:
            load_trees(path)
        assert str(info.value) == f"{path}:2: {expected[case]}", case
        with pytest.raises(DataError) as info:
            DialogueTree.from_json(line, source="t.json", line=7)
        assert str(info.value) == f"t.json:7: {expected[case]}", case


EVERY_CONTROL = "".join(map(chr, range(32))) + "\x7f"


def test_graphml_of_texts_with_every_control_character_reads_back(tmp_path):
    question = QUESTION.model_copy(update={"text": f"Capital{EVERY_CONTROL}?"})
    tree = DialogueTree(question, tree_id=f"t{EVERY_CONTROL}")
    odd = make_turn("A", f"neutral{EVERY_CONTROL}", f"Paris{EVERY_CONTROL}", None, error=f"boom{EVERY_CONTROL}")
    node = tree.add_turn(ROOT, odd.model_copy(update={"text": f"It is{EVERY_CONTROL}Paris"}))
    graph = nx.read_graphml(tree.to_graphml(tmp_path / "tree.graphml"))
    # Tab and line feed are XML text; carriage return is too, though XML readers turn it into \n.
    shown = "\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\t\n\\x0b\\x0c\n" + \
            "".join(f"\\x{c:02x}" for c in range(14, 32)) + "\x7f"
    assert graph.graph["tree_id"] == f"t{shown}" and graph.nodes[ROOT]["text"] == f"Capital{shown}?"
    turn = graph.nodes[node]
    assert turn["text"] == f"It is{shown}Paris" and turn["persona"] == f"neutral{shown}"
    assert turn["error"] == f"boom{shown}" and json.loads(turn["answers"]) == odd.answers


def test_values_quoted_in_errors_are_short_and_escaped():
    doc = pbt_tree().to_dict()
    with pytest.raises(DataError) as info:
        DialogueTree.from_dict(doc | {"version": "1\x1b[2J"}, source="t.json")
    assert str(info.value) == "t.json: field 'version': version '1\\x1b[2J' is not supported (expected one of 1, 2)"
    with pytest.raises(DataError) as info:
        DialogueTree.from_dict(doc | {"format": "x" * 10_000}, source="t.json")
    assert len(str(info.value)) < 120 and "format 'xxx" in str(info.value)
