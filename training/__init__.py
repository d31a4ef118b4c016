"""What we learn from dialogues: node scores, PBT preference pairs, datasets, SFT and DPO."""
