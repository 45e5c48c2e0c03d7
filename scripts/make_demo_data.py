#!/usr/bin/env python3
"""Demo datasets from the Brown corpus text (one sentence per line).

pretrain.jsonl        {"text"} rows: every sentence but 500 held out in pretrain_eval.jsonl, for
                      full-parameter pretraining of the base.
<adapter>/train.jsonl and eval.jsonl, {"prompt","completion"} rows built from short fragments
(4-6 lower-case words from the start of a sentence), one behaviour per adapter:
  upper    the fragment repeated in upper case
  reverse  the fragment's words in reverse order
  verily   the fragment in a mock-archaic frame: "Verily, <fragment>, forsooth!"
The prompt is the same for every adapter ("Say: <fragment>\n"), so one prompt shows three
behaviours. Deterministic for a seed. Usage: make_demo_data.py brown.txt OUT_DIR
"""
import json
import os
import random
import re
import sys

src, out = sys.argv[1], sys.argv[2]
random.seed(1234)
sentences = [s.strip() for s in open(src, encoding="utf-8") if s.strip()]
os.makedirs(out, exist_ok=True)
held_out = set(random.sample(range(len(sentences)), 500))
with open(os.path.join(out, "pretrain.jsonl"), "w") as f, open(os.path.join(out, "pretrain_eval.jsonl"), "w") as e:
    for i, s in enumerate(sentences):
        (e if i in held_out else f).write(json.dumps({"text": s}) + "\n")

fragments = []
for s in sentences:
    words = s.split()
    n = random.randint(4, 6)
    head = words[:n]
    if len(head) == n and all(re.fullmatch(r"[A-Za-z]+", w) for w in head):
        fragments.append(" ".join(w.lower() for w in head))
fragments = sorted(set(fragments))
random.shuffle(fragments)
behaviours = {
    "upper": lambda t: " " + t.upper(),
    "reverse": lambda t: " " + " ".join(reversed(t.split())),
    "verily": lambda t: " Verily, " + t + ", forsooth!",
}
for name, fn in behaviours.items():
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    for split, rows in (("eval", fragments[:100]), ("train", fragments[100:2600])):
        with open(os.path.join(d, split + ".jsonl"), "w") as f:
            for t in rows:
                f.write(json.dumps({"prompt": "Say: " + t + "\n", "completion": fn(t)}) + "\n")
print(f"{len(sentences)} sentences, {len(fragments)} fragments", file=sys.stderr)
