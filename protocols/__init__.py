"""How agents speak: the batched engine and the dialogue patterns (ordered debates, PBT trees,
challenge and misinformation dialogues). Built on `debate` and `agents`."""
