"""Scores, preference pairs and datasets from hand-built trees with known answers (PBT.md 4-6)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import pytest

from agents.agent import Agent
from agents.base import ChatModel
from debate.records import ChatRequest, Reply
from protocols.engine import Engine
from protocols.recursive import RecursiveTree
from training.judge import confirm_labels, read_stance

from debate.errors import DataError
from debate.records import Question, Turn
from debate.tree import ROOT, DialogueTree, Visibility, save_trees
from training.datasets import condition, dedupe, preference_example, split_by_question
from training.pairs import correct, mine_pairs, scores
from helpers import debate

PARIS = Question(id="fr", text="What is the capital of France?", gold=["Paris"], wrong_answers=["Lyon"])


def add(tree: DialogueTree, parent: str, speaker: str, persona: str, answers: dict, round_: int, text: str = "") -> str:
    return tree.add_turn(parent, Turn(speaker=speaker, persona=persona, text=text or f"{speaker} {answers}",
                                      answers=answers), round=round_)


def pbt_tree(a_first: str, b_first: str, leaves: list[tuple[str, str]], question: Question = PARIS,
             leaf_texts: tuple[str, str] = ("", ""), push_text: str = "") -> DialogueTree:
    """A 1-2-3-2 slice of a PBT tree: A, then B resistant / acceptant (independent), then A logical
    under the resistant branch, then B resistant / acceptant with the given leaf answers."""
    tree = DialogueTree(question, tree_id=f"t-{a_first}-{b_first}-{question.id}",
                        visibility=Visibility(opening_round=1))
    a0 = add(tree, ROOT, "A", "neutral", {"A": a_first}, 0)
    b_res = add(tree, a0, "B", "resistant", {"A": a_first, "B": b_first}, 0)
    add(tree, a0, "B", "acceptant", {"A": a_first, "B": b_first}, 0)
    a1 = add(tree, b_res, "A", "logical", {"A": a_first, "B": b_first}, 1, push_text)
    for persona, (a_answer, b_answer), text in zip(("resistant", "acceptant"), leaves, leaf_texts):
        add(tree, a1, "B", persona, {"A": a_answer, "B": b_answer}, 2, text)
    return tree


def test_scores_count_correct_answers_down_the_subtree():
    tree = pbt_tree("Paris", "Lyon", [("Paris", "Lyon"), ("Paris", "Paris")])
    assert correct(tree, "r.0") == 1 and correct(tree, "r.0.0.0.1") == 2
    assert scores(tree) == {"r.0": 1 + 1 + 1 + 1 + 1 + 2, "r.0.0": 1 + 1 + 1 + 2, "r.0.1": 1, "r.0.0.0": 1 + 1 + 2,
                            "r.0.0.0.0": 1, "r.0.0.0.1": 2}


def test_accept_pair_at_the_leaves_and_the_inclusive_edge():
    tree = pbt_tree("Paris", "Lyon", [("Paris", "Lyon"), ("Paris", "Paris")])
    leaf = [p for p in mine_pairs(tree) if p.parent == "r.0.0.0"]
    assert len(leaf) == 1
    (pair,) = leaf
    assert (pair.chosen, pair.rejected, pair.label, pair.scores) == ("r.0.0.0.1", "r.0.0.0.0", "accept", (2, 1))
    assert pair.speaker == "B" and pair.strategy == "logical"
    assert not [p for p in mine_pairs(tree, strict=True) if p.parent == "r.0.0.0"]  # gap exactly 0.5


def test_resist_pair():
    tree = pbt_tree("Lyon", "Paris", [("Lyon", "Paris"), ("Lyon", "Lyon")])
    (pair,) = [p for p in mine_pairs(tree) if p.parent == "r.0.0.0"]
    assert (pair.chosen, pair.rejected, pair.label, pair.scores) == ("r.0.0.0.0", "r.0.0.0.1", "resist", (1, 0))


def test_independent_round_siblings_and_other_cases_are_unlabelled():
    tree = DialogueTree(PARIS, visibility=Visibility(opening_round=1))
    a0 = add(tree, ROOT, "A", "neutral", {"A": "Paris"}, 0)
    add(tree, a0, "B", "resistant", {"A": "Paris", "B": "Lyon"}, 0)
    add(tree, a0, "B", "acceptant", {"A": "Paris", "B": "Paris"}, 0)
    (opening,) = mine_pairs(tree)  # B's independent answers: scores 2 vs 1, but B never saw A's turn
    assert opening.scores == (2, 1) and opening.label is None and "independent round" in opening.reason
    # Both wrong before and after: a pair by score, but neither resist nor accept.
    wrong = pbt_tree("Lyon", "Lyon", [("Lyon", "Lyon"), ("Paris", "Lyon")])
    (pair,) = [p for p in mine_pairs(wrong) if p.parent == "r.0.0.0"]
    assert pair.label is None and pair.reason.startswith("prev wrong, pushed wrong")


def test_same_children_rule_and_both_correct_skip():
    tree = pbt_tree("Paris", "Lyon", [("Paris", "Lyon"), ("Paris", "Paris")])
    # r.0.0 has a child and r.0.1 has none (scores 5 and 1): never paired.
    assert len(tree.children("r.0.0")) != len(tree.children("r.0.1"))
    assert not [p for p in mine_pairs(tree) if {p.chosen, p.rejected} == {"r.0.0", "r.0.1"}]
    right = pbt_tree("Paris", "Paris", [("Paris", "Paris"), ("Paris", "Paris")])
    assert list(mine_pairs(right)) == []  # every sibling pair has every agent right


def test_correctness_is_exact_never_fuzzy():
    # Aliases after normalising count; a longer, different answer containing gold does not.
    tree = pbt_tree("Paris", "Lyon", [("Paris", "Lyon"), ("the paris", "PARIS.")])
    (pair,) = [p for p in mine_pairs(tree) if p.parent == "r.0.0.0"]
    assert pair.label == "accept" and pair.scores == (2, 1)
    legs = Question(id="legs", text="How many legs does a spider have?", gold=["8", "eight"], wrong_answers=["6"])
    # B "accepting" 18 is not accepting 8: under the old fuzzy rule 18 graded right and made an accept pair.
    near_miss = pbt_tree("8", "6", [("8", "6"), ("8", "18")], question=legs)
    assert correct(near_miss, "r.0.0.0.1") == 1
    assert not [p for p in mine_pairs(near_miss) if p.parent == "r.0.0.0"]  # both leaves score 1: no pair


def test_level_two_replies_are_unlabelled_unless_asked_for():
    """A's replies to B's independent answer are not replies to a persuasion turn (the reference's rule)."""
    tree = DialogueTree(PARIS)
    a0 = add(tree, ROOT, "A", "neutral", {"A": "Lyon"}, 0)
    b0 = add(tree, a0, "B", "resistant", {"A": "Lyon", "B": "Paris"}, 0)
    add(tree, b0, "A", "logical", {"A": "Paris", "B": "Paris"}, 1)
    add(tree, b0, "A", "emotional", {"A": "Lyon", "B": "Paris"}, 1)
    (pair,) = mine_pairs(tree)
    assert pair.label is None and "not a persuasion turn (persona resistant)" in pair.reason
    (kept,) = mine_pairs(tree, persuasion_only=False)
    assert (kept.label, kept.strategy, kept.chosen) == ("accept", "resistant", "r.0.0.0")


def test_no_accept_label_without_an_earlier_own_answer():
    tree = DialogueTree(PARIS)
    a0 = add(tree, ROOT, "A", "logical", {"A": "Paris"}, 1)  # B speaks for the first time, after A's push
    add(tree, a0, "B", "acceptant", {"A": "Paris", "B": "Paris"}, 2)
    add(tree, a0, "B", "resistant", {"A": "Paris", "B": "Lyon"}, 2)
    (pair,) = mine_pairs(tree)
    assert pair.label is None and pair.reason == "the speaker held no answer of its own before the parent turn"


def test_preference_records_render_the_persuadee_view_with_the_neutral_prompt():
    tree = pbt_tree("Paris", "Lyon", [("Paris", "Lyon"), ("Paris", "Paris")])
    (pair,) = [p for p in mine_pairs(tree) if p.parent == "r.0.0.0"]
    example = preference_example(tree, pair)
    record = example.to_trl()
    roles = [m["role"] for m in record["prompt"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert "resistant" not in record["prompt"][0]["content"] and "Final answer" in record["prompt"][0]["content"]
    assert record["prompt"][1]["content"].startswith("What is the capital of France?\n\nAgent A:")
    assert record["prompt"][2]["content"] == tree.turn("r.0.0").text  # B's own turn
    assert record["chosen"] == [{"role": "assistant", "content": tree.turn("r.0.0.0.1").text}]
    assert example.source.question_id == "fr" and example.label == "accept"
    assert (example.source.parent, example.source.chosen, example.source.rejected) == \
        ("r.0.0.0", "r.0.0.0.1", "r.0.0.0.0")


def variant(qid: str) -> Question:
    """PARIS under another id and wording (identical records would be de-duplicated)."""
    return PARIS.model_copy(update={"id": qid, "text": f"{PARIS.text} ({qid})"})


def many(n: int, kind: str) -> list:
    records = []
    for i in range(n):
        q = variant(f"q{i}")
        tree = pbt_tree(*(("Paris", "Lyon", [("Paris", "Lyon"), ("Paris", "Paris")]) if kind == "accept" else
                          ("Lyon", "Paris", [("Lyon", "Paris"), ("Lyon", "Lyon")])), question=q)
        records += [preference_example(tree, p) for p in mine_pairs(tree) if p.label]
    return records


def test_splits_conditions_and_dedupe():
    records = many(30, "accept") + many(10, "resist")
    assert len(dedupe(records + records[:5])) == len(records)
    splits = split_by_question(records, seed=3)
    ids = {name: {r.source.question_id for r in rows} for name, rows in splits.items()}
    assert not ids["train"] & ids["dev"] and not ids["train"] & ids["test"] and not ids["dev"] & ids["test"]
    assert [len(ids[s]) for s in ("train", "dev", "test")] == [21, 4, 5]  # 30 questions, 70/15/15
    train = splits["train"]
    n = min(sum(r.label == "accept" for r in train), sum(r.label == "resist" for r in train))
    assert n > 0
    balanced = condition(train, "balanced")
    assert sum(r.label == "accept" for r in balanced) == sum(r.label == "resist" for r in balanced) == n
    assert len(condition(train, "resist")) == n
    assert len(condition(train, "accept")) == n < sum(r.label == "accept" for r in train)  # matched size
    assert len(condition(many(5, "accept"), "accept")) == 5  # no resist pairs at all: every accept pair
    with pytest.raises(DataError, match="0 resist pairs: balanced needs both kinds"):
        condition(many(5, "accept"), "balanced")


def test_prefs_command(tmp_path):
    trees = [pbt_tree("Paris", "Lyon", [("Paris", "Lyon"), ("Paris", "Paris")], variant(f"a{i}"))
             for i in range(20)]
    trees += [pbt_tree("Lyon", "Paris", [("Lyon", "Paris"), ("Lyon", "Lyon")], variant(f"r{i}"))
              for i in range(20)]
    save_trees(tmp_path / "trees.jsonl", trees)
    run = debate("prefs", str(tmp_path / "trees.jsonl"), "--out", str(tmp_path / "data"))
    assert run.returncode == 0, run.stderr
    card = json.loads((tmp_path / "data" / "card.json").read_text())
    assert card["train"]["by_label"]["accept"] == card["train"]["by_label"]["resist"]
    assert sum(card["questions_by_split"].values()) == 40
    prefixes = (tmp_path / "data" / "balanced-dev.trees.jsonl").read_text().splitlines()
    assert prefixes and all(json.loads(p)["metadata"]["label"] in ("resist", "accept") for p in prefixes)
    only_accept = tmp_path / "accept.jsonl"
    save_trees(only_accept, trees[:20])
    bad = debate("prefs", str(only_accept), "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "0 resist pairs: balanced needs both kinds" in bad.stderr
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"format": "debate-tree", "version": 7}\n')
    assert "wrong.jsonl:1: field 'version'" in debate("prefs", str(wrong), "--out", str(tmp_path / "w")).stderr
    assert "unknown condition 'both'" in debate("prefs", str(wrong), "--out", str(tmp_path / "w"),
                                                 "--condition", "both").stderr
    for option, value, expected in (("--threshold", "0", "field '--threshold': must be in (0, 1]"),
                                    ("--format", "csv", "field '--format': unknown format 'csv'")):
        refused = debate("prefs", str(tmp_path / "trees.jsonl"), "--out", str(tmp_path / "o"), option, value)
        assert refused.returncode == 2 and expected in refused.stderr and not (tmp_path / "o").exists()
    no_gold = json.loads(trees[0].to_json())
    no_gold["question"]["gold"] = []
    (tmp_path / "no_gold.jsonl").write_text(json.dumps(no_gold) + "\n")
    refused = debate("prefs", str(tmp_path / "no_gold.jsonl"), "--out", str(tmp_path / "g"))
    assert refused.returncode == 2 and "no_gold.jsonl:1: field 'question.gold': List should have at least 1 item" \
        in refused.stderr and not (tmp_path / "g").exists()
    judged = debate("prefs", str(tmp_path / "trees.jsonl"), "--out", str(tmp_path / "j"), "--judge", "sim:nope")
    assert judged.returncode == 2 and "unknown sim preset 'nope'" in judged.stderr and not (tmp_path / "j").exists()
    # Several tree files are pooled: the same trees in two files give the same data.
    save_trees(tmp_path / "part2.jsonl", trees[20:])
    pooled = debate("prefs", str(only_accept), str(tmp_path / "part2.jsonl"), "--out", str(tmp_path / "pooled"))
    assert pooled.returncode == 0, pooled.stderr
    def without_source(folder: str, name: str) -> list[dict]:
        rows = [json.loads(line) for line in (tmp_path / folder / name).read_text().splitlines()]
        for row in rows:
            assert row["provenance"].pop("trees_file").endswith(".jsonl")
        return rows

    for name in ("train.jsonl", "dev.jsonl", "test.jsonl"):
        assert without_source("pooled", name) == without_source("data", name)
    # Two passes over the same questions reuse tree ids: each prefix comes from its own file.
    second_pass = [pbt_tree("Paris", "Lyon", [("Paris", "Lyon"), ("Paris", "Paris")], variant(f"a{i}"),
                            ("I still say Lyon.", "Fine, Paris."), "Second pass: it is Paris.") for i in range(20)]
    save_trees(tmp_path / "pass2.jsonl", second_pass)
    passes = debate("prefs", str(tmp_path / "trees.jsonl"), str(tmp_path / "pass2.jsonl"), "--out", str(tmp_path / "p"))
    assert passes.returncode == 0, passes.stderr
    for split in ("dev", "test"):
        items = [json.loads(line) for line in (tmp_path / "p" / f"{split}.jsonl").read_text().splitlines()]
        prefixes = [json.loads(line)
                    for line in (tmp_path / "p" / f"balanced-{split}.trees.jsonl").read_text().splitlines()]
        for item, prefix in zip(items, prefixes):
            source = {str(tmp_path / "trees.jsonl"): trees, str(tmp_path / "pass2.jsonl"): second_pass}
            tree = next(t for t in source[item["provenance"]["trees_file"]]
                        if t.tree_id == item["provenance"]["tree_id"])
            assert item["chosen"][0]["content"] == tree.turn(item["provenance"]["chosen"]).text
            pushed = prefix["graph"]["nodes"][-1]["turn"]["text"]
            assert pushed == tree.turn(item["provenance"]["parent"]).text


@pytest.mark.slow
def test_smollm2_as_judge_only_removes_labels(tmp_path):
    hold, give = "No, I disagree. It is {}.", "You are right, I agree: it is {}."
    trees = [pbt_tree("Paris", "Lyon", [("Paris", "Lyon"), ("Paris", "Paris")], variant(f"a{i}"),
                      (hold.format("Lyon"), give.format("Paris"))) for i in range(3)]
    trees += [pbt_tree("Lyon", "Paris", [("Lyon", "Paris"), ("Lyon", "Lyon")], variant(f"r{i}"),
                       (hold.format("Paris"), give.format("Lyon"))) for i in range(3)]
    save_trees(tmp_path / "trees.jsonl", trees)

    def records(folder: str) -> list[dict]:
        return [json.loads(line) for split in ("train", "dev", "test")
                for line in (tmp_path / folder / f"{split}.jsonl").read_text().splitlines()]

    judged = debate("prefs", str(tmp_path / "trees.jsonl"), "--out", str(tmp_path / "judged"), "--condition", "all",
                    "--judge", "gguf:smollm2", timeout=600)
    assert judged.returncode == 0, judged.stderr
    before = {(tree.tree_id, pair.chosen): pair.label for tree in trees for pair in mine_pairs(tree)}
    assert sum(label is not None for label in before.values()) == 6
    after = records("judged")
    assert after
    for record in after:
        label_before = before[(record["provenance"]["tree_id"], record["provenance"]["chosen"])]
        assert record["label"] in (label_before, None)  # the judge never invents or swaps a label
        assert ("judge" in record["provenance"]) == (label_before is not None)  # only labelled pairs are judged
        if record["label"] is not None:
            expected = {"resist": ["Disagree", "Agree"], "accept": ["Agree", "Disagree"]}[record["label"]]
            assert record["provenance"]["judge"] == expected


class Scripted(ChatModel):
    """Replies from a script of the request (a real engine run without sampling)."""

    model_id = "scripted"

    def __init__(self, script: Callable[[ChatRequest], str]):
        self.script = script

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        return [Reply(text=self.script(r), model=self.model_id) for r in requests]


def b_replies(opening: str, later: dict[str, str]) -> Callable[[ChatRequest], str]:
    """A says Paris with every persona; B answers `opening` first (question only), then by persona."""
    def script(request: ChatRequest) -> str:
        if request.persona in ("neutral", "logical", "emotional", "credibility"):
            return f"It is Paris ({request.persona})."
        return opening if len(request.messages) <= 2 else later[request.persona]
    return script


def engine_tree(script: Callable[[ChatRequest], str]) -> DialogueTree:
    model = Scripted(script)
    trees: list[DialogueTree] = []
    Engine(RecursiveTree(), {"A": Agent("A", model), "B": Agent("B", model)}).run([PARIS], trees.append)
    return trees[0]


def test_agree_and_disagree_replies_are_resolved_before_labelling():
    # A pushes the right answer at B, who was wrong: the acceptant reply only says "I agree" and
    # stands for A's answer; the resistant reply only says "I disagree" and keeps B's own.
    tree = engine_tree(b_replies("Lyon.", {"resistant": "I disagree.", "acceptant": "I agree with you."}))
    assert len(tree.nodes()) == 21
    pairs = [p for p in mine_pairs(tree) if tree.level(p.chosen) == 3]
    assert len(pairs) == 6  # one per level-2 node (3 personas x the two level-1 branches)
    for pair in pairs:
        assert pair.label == "accept" and pair.scores == (2, 1)
        chosen, rejected = tree.turn(pair.chosen), tree.turn(pair.rejected)
        assert (chosen.read.special, chosen.answers["B"]) == ("Agree", "Paris")
        assert (rejected.read.special, rejected.answers["B"]) == ("Disagree", "Lyon")
    # Swapped scripts: the "agreeing" reply is now the resistant persona's, and the pair flips.
    swapped = engine_tree(b_replies("Lyon.", {"resistant": "I agree with you.", "acceptant": "I disagree."}))
    for pair in (p for p in mine_pairs(swapped) if swapped.level(p.chosen) == 3):
        assert pair.label == "accept" and swapped.turn(pair.chosen).persona == "resistant"


class Stances(ChatModel):
    """A judge that calls a reply agreeing when it says 'agree' (and not 'disagree')."""

    model_id = "stances"

    def __init__(self):
        self.seen = 0

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        self.seen += len(requests)
        replies = []
        for request in requests:
            reply = request.messages[-1].content.split("replied: ", 1)[1].split("\n\n", 1)[0].lower()
            replies.append(Reply(text="Disagree." if "disagree" in reply or "lyon" in reply else "Agree",
                                 model=self.model_id))
        return replies


def test_the_judge_confirms_or_unlabels_pairs():
    assert (read_stance("Agree."), read_stance("I disagree"), read_stance("Agree? Disagree?"), read_stance("?")) == \
        ("Agree", "Disagree", None, None)
    tree = engine_tree(b_replies("Lyon.", {"resistant": "I disagree.", "acceptant": "I agree with you."}))
    pairs = [p for p in mine_pairs(tree) if p.label]
    judge = Stances()
    judged = confirm_labels([(tree, p) for p in pairs], judge)
    assert judge.seen == 2 * len(pairs)
    assert all(p.label == "accept" and v == ("Agree", "Disagree") for p, v in judged)
    # A pair whose chosen reply the judge reads as disagreeing is not confirmed.
    odd = engine_tree(b_replies("Lyon.", {"resistant": "Lyon.", "acceptant": "Paris, I disagree with my old self."}))
    odd_pairs = [p for p in mine_pairs(odd) if p.label == "accept"]
    assert odd_pairs
    for pair, verdicts in confirm_labels([(odd, p) for p in odd_pairs], Stances()):
        assert pair.label is None and verdicts == ("Disagree", "Disagree")
        assert pair.reason == "judge did not confirm accept: chosen Disagree, rejected Disagree"
