#!/usr/bin/env python3
"""Assemble README.md and README.zh-CN.md from docs/header.*.md and each member's fragment
(docs/<member>.en.md / .zh.md: table rows, then exercise and glossary sections).

Run from anywhere: python3 docs/assemble.py
"""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
ORDER = ["process", "pool", "pipe", "queue", "shared-mem", "threads", "prodcons", "ipc", "exercises"]


def split(text):
    rows, exercises, glossary = [], [], []
    current = None
    for line in text.splitlines():
        if line.startswith("### "):
            current = glossary if re.search(r"Glossary|术语表", line) else exercises
            current.append(line)
        elif current is None:
            if line.startswith("|"):
                rows.append(line)
        else:
            current.append(line)
    return rows, "\n".join(exercises).strip(), "\n".join(glossary).strip()


def build(lang, out_name):
    header = (ROOT / f"docs/header.{lang}.md").read_text()
    rows, ex, gl = [], [], []
    for m in ORDER:
        f = ROOT / f"docs/{m}.{lang}.md"
        if not f.exists():
            continue
        r, e, g = split(f.read_text())
        rows += r
        if e:
            ex.append(e)
        if g:
            gl.append(g)
    text = header.replace("{{ROWS}}", "\n".join(rows))
    text = text.replace("{{EXERCISES}}", "\n\n".join(ex))
    text = text.replace("{{GLOSSARY}}", "\n\n".join(gl))
    perf = ROOT / f"docs/performance.{lang}.md"
    text = text.replace("{{PERFORMANCE}}", perf.read_text().strip() if perf.exists() else "")
    (ROOT / out_name).write_text(text.rstrip() + "\n")


build("en", "README.md")
build("zh", "README.zh-CN.md")
