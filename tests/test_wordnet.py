"""WordNet from Debian files as an nltk corpus: building it, a clear error without it, lookups."""

from __future__ import annotations

from pathlib import Path

import nltk
import pytest

from fashion_lib.data import wordnet
from fashion_lib.errors import FashionLibError


def fake_source(folder: Path) -> Path:
    """A folder shaped like /usr/share/wordnet: every required file, one of them a symlink."""
    folder.mkdir()
    outside = folder.parent / "outside.txt"
    outside.write_text("linked content\n")
    for name in wordnet.REQUIRED_FILES:
        (folder / name).write_text(f"content of {name}\n")
    (folder / "noun.exc").unlink()
    (folder / "noun.exc").symlink_to(outside)
    return folder


def test_lexnames_is_the_fixed_list_nltk_parses():
    lines = wordnet.lexnames_text().splitlines()
    assert len(lines) == 45
    for i, line in enumerate(lines):  # nltk asserts int(index) == i on each line
        index, name, category = line.split()
        assert (
            int(index) == i
            and category == {"noun": "1", "verb": "2", "adj": "3", "adv": "4"}[name.split(".")[0]]
        )
    assert lines[3].split()[1] == "noun.Tops" and lines[44].split()[1] == "adj.ppl"


def test_build_copies_real_files_and_writes_lexnames(tmp_path):
    source = fake_source(tmp_path / "src")
    corpus = wordnet.build_wordnet_corpus(tmp_path / "nltk", source)
    assert corpus == tmp_path / "nltk" / "corpora" / "wordnet"
    copied = corpus / "noun.exc"
    assert not copied.is_symlink() and copied.read_text() == "linked content\n"
    assert (corpus / "index.sense").read_text() == "content of index.sense\n"
    assert (corpus / "lexnames").read_text() == wordnet.lexnames_text()
    # Rebuilding replaces the folder atomically and leaves no temporary folders behind.
    (source / "index.sense").write_text("new\n")
    wordnet.build_wordnet_corpus(tmp_path / "nltk", source)
    assert (corpus / "index.sense").read_text() == "new\n"
    assert sorted(p.name for p in corpus.parent.iterdir()) == ["wordnet"]


def test_missing_debian_files_name_the_packages(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FashionLibError) as err:
        wordnet.build_wordnet_corpus(tmp_path / "nltk", empty)
    assert "wordnet-base" in str(err.value) and "wordnet-sense-index" in str(err.value)
    assert not (tmp_path / "nltk" / "corpora" / "wordnet").exists()


def test_ensure_wordnet_explains_when_no_corpus_exists(tmp_path, monkeypatch):
    monkeypatch.setenv("NLTK_DATA", str(tmp_path / "nltk_data"))
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk_data")])
    with pytest.raises(FashionLibError) as err:
        wordnet.ensure_wordnet(source=tmp_path / "no-debian-files")
    message = str(err.value)
    assert "wordnet-base" in message and wordnet.SETUP_COMMAND in message
    assert "apt-get install" in message


def test_ensure_wordnet_builds_the_project_corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("NLTK_DATA", str(tmp_path / "nltk_data"))
    monkeypatch.setattr(nltk.data, "path", [])
    found = wordnet.ensure_wordnet(source=fake_source(tmp_path / "src"))
    assert Path(found) == tmp_path / "nltk_data" / "corpora" / "wordnet"
    assert str(tmp_path / "nltk_data") in nltk.data.path
    assert (Path(found) / "lexnames").is_file()


def test_setup_wordnet_builds_into_the_project_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NLTK_DATA", str(tmp_path / "project"))
    monkeypatch.setattr(wordnet, "DEBIAN_WORDNET", fake_source(tmp_path / "src"))
    assert wordnet.setup_wordnet() == tmp_path / "project" / "corpora" / "wordnet"
    assert (tmp_path / "project" / "corpora" / "wordnet" / "lexnames").is_file()


def test_antonyms_and_synonyms_from_real_wordnet():
    # Needs the Debian packages (`make test` builds the corpus first via `make wordnet`).
    assert wordnet.antonyms("long")[0] == "short"
    assert wordnet.antonyms("Short")[0] == "long"
    assert "sleeved" in wordnet.antonyms("sleeveless")
    casual = wordnet.antonyms("casual")  # satellite adjective: only indirect antonyms
    assert "formal" in casual and "casual" not in casual
    assert wordnet.antonyms("dress")[0] == "undress"
    assert "pant" in wordnet.synonyms("trousers")
    assert wordnet.antonyms("qwertyuiop") == [] and wordnet.synonyms("qwertyuiop") == []
